import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { DomainIdParam, ResourceIdParam, ResourceKind } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf } from '../actor.js';

const Side = Type.Object(
  { domainId: DomainIdParam, resourceId: ResourceIdParam },
  { additionalProperties: false },
);

/** Attempt details are the provider's words about what A got; bounded so no answer grows without end. */
const maxDetail = 500;

export const providerProbe: RouteModule = (app, { provisioner }) => {
  app.post(
    '/v1/verify/provider-probes',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'probeProviderIsolation',
        summary: "Run a backend's isolation probe between two domains' resources",
        description:
          "With A's credentials, the backend tries B's resource (log in, read, write, list, end B's " +
          'sessions …); every attempt must be refused. Both must be ready resources of the same kind in two ' +
          "different domains. The credentials never leave the server (each domain's audit log records their " +
          'reading); the answer holds the attempts only. Used by `bulkhead verify`.',
        body: Type.Object({ a: Side, b: Side }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            kind: ResourceKind,
            refused: Type.Boolean({ description: 'True only when every attempt was refused.' }),
            attempts: Type.Array(
              Type.Object({ attempt: Type.String(), refused: Type.Boolean(), detail: Type.String() }),
            ),
          }),
        },
      },
    },
    async (request) => {
      const { kind, report } = await provisioner.probeIsolation(
        actorOf(request),
        request.body.a,
        request.body.b,
      );
      return {
        kind,
        refused: report.refused,
        attempts: report.attempts.map((a) => ({
          attempt: a.attempt,
          refused: a.refused,
          detail: a.detail.length > maxDetail ? `${a.detail.slice(0, maxDetail)}…` : a.detail,
        })),
      };
    },
  );
};
