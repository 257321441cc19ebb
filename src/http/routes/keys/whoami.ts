import { Type } from '@sinclair/typebox';
import { anyCredential } from '../../../policy/policy.js';
import type { Principal } from '../../../policy/principal.js';
import { Scope } from './schemas.js';
import type { RouteModule } from '../../types.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

function describe(p: Principal) {
  switch (p.kind) {
    case 'operator':
      return {
        credential: p.kind,
        domainId: null,
        slug: null,
        keyId: null,
        subject: null,
        sessionId: null,
        role: null,
        scopes: [],
      };
    case 'provisioning_key':
      return {
        credential: p.kind,
        domainId: p.domainId,
        slug: p.domainSlug,
        keyId: p.keyId,
        subject: null,
        sessionId: null,
        role: null,
        scopes: [...p.scopes],
      };
    case 'access_token':
    case 'session':
      return {
        credential: p.kind,
        domainId: p.domainId,
        slug: p.domainSlug,
        keyId: null,
        subject: p.subject,
        sessionId: p.sessionId,
        role: p.role,
        scopes: [],
      };
  }
}

export const whoami: RouteModule = (app) => {
  app.get(
    '/v1/whoami',
    {
      config: { access: anyCredential },
      schema: {
        operationId: 'whoami',
        summary: 'Who the credential is',
        description:
          'The domain a provisioning key or an access token belongs to, with the key id or the subject, ' +
          'session and role. Revoked, expired, unknown or malformed credentials, and those of suspended or deleted ' +
          'domains, all get the same 401.',
        response: {
          200: Type.Object({
            credential: Type.Union([
              Type.Literal('operator'),
              Type.Literal('provisioning_key'),
              Type.Literal('access_token'),
              Type.Literal('session'),
            ]),
            domainId: Nullable(Type.String()),
            slug: Nullable(Type.String()),
            keyId: Nullable(Type.String()),
            subject: Nullable(Type.String()),
            sessionId: Nullable(Type.String()),
            role: Type.Union([Type.Literal('member'), Type.Literal('admin'), Type.Null()]),
            scopes: Type.Array(Scope),
          }),
        },
      },
    },
    (request) => describe(request.principal!),
  );
};
