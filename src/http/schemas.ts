// Request and response schemas shared by several features; a feature's own schemas live in its folder
// (routes/<feature>/schemas.ts). Response schemas are the allow-list of what may leave the server: a
// field not named in one is dropped, so a secret cannot leak by accident.
import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { idSchemaPattern } from '../domain/ids.js';
import { timestampMaxLength } from '../domain/timestamp.js';
import { resourceKinds } from '../domain/kinds.js';
import { errorStatus } from '../errors.js';

export const DomainIdParam = Type.String({
  pattern: idSchemaPattern('domain'),
  description: 'A domain id, `dom_…`.',
});
/**
 * A domain id in the path of a tenant route, or `me`: the domain of the credential that calls, so a client
 * holding only its key needs no lookup first. `me` is never a domain of the operator's, and is taken in
 * paths only, never in a body or a query.
 */
export const DomainPathParam = Type.String({
  pattern: `^(?:me|${idSchemaPattern('domain').replace(/^\^|\$$/g, '')})$`,
  description: "A domain id, `dom_…`, or `me` for the calling credential's own domain.",
});
/**
 * Every date-time, in bodies, query parameters and responses: RFC 3339, read by `readTimestamp`
 * (src/domain/timestamp.ts), which the validators install as the `date-time` format.
 */
export const Timestamp = Type.String({
  format: 'date-time',
  maxLength: timestampMaxLength,
  description:
    'An RFC 3339 date-time, e.g. `2026-12-01T00:00:00Z`; no leap second, an offset within ±14:00, ' +
    'the instant within the years 0001–9999 (UTC).',
});
/** The schema, or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const noQuery = Type.Object({}, { additionalProperties: false });

export const ResourceIdParam = Type.String({
  pattern: idSchemaPattern('resource'),
  description: 'A resource id, `res_…`.',
});

export const DomainParams = Type.Object({ domainId: DomainIdParam }, { additionalProperties: false });
export const TenantDomainParams = Type.Object({ domainId: DomainPathParam }, { additionalProperties: false });

export const ResourceKind = Type.Union(resourceKinds.map((k) => Type.Literal(k)));

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.Union(Object.keys(errorStatus).map((c) => Type.Literal(c))),
    detail: Type.String(),
    requestId: Type.String(),
    reason: Type.Optional(
      Type.String({
        description: 'The cause, as a stable code narrower than `code` (e.g. `unsafe_server`).',
      }),
    ),
    hint: Type.Optional(Type.String({ description: 'What to do about it, in one line.' })),
    errors: Type.Optional(
      Type.Array(Type.Object({ path: Type.String(), code: Type.String(), message: Type.String() })),
    ),
  },
  { $id: 'Problem', description: 'An RFC 9457 problem; `code` is stable and safe to match on.' },
);

/** The error responses every route may give, for the OpenAPI document and the serializer. */
type ProblemRef = TUnsafe<Static<typeof Problem>>;
export const errorResponses: { '4xx': ProblemRef; '5xx': ProblemRef } = {
  '4xx': Type.Unsafe<Static<typeof Problem>>({
    $ref: 'Problem#',
    description: 'The request was refused; see `code`.',
  }),
  '5xx': Type.Unsafe<Static<typeof Problem>>({
    $ref: 'Problem#',
    description: 'The server failed; see the logs by request id.',
  }),
};

export const bearer = [{ bearer: [] }];

export const Jwks = Type.Object({
  keys: Type.Array(
    Type.Object({
      kty: Type.Literal('OKP'),
      crv: Type.Literal('Ed25519'),
      x: Type.String(),
      kid: Type.String(),
      alg: Type.Literal('EdDSA'),
      use: Type.Literal('sig'),
    }),
  ),
});
