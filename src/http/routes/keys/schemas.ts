// Provisioning keys in requests and responses. A key's secret appears only in `IssuedKey`, the answer
// of the two routes that create one; every other answer names the key without it.
import { Type } from '@sinclair/typebox';
import { idSchemaPattern } from '../../../domain/ids.js';
import { validScopes } from '../../../policy/scopes.js';
import { DomainIdParam, Nullable, Timestamp } from '../../schemas.js';

export const KeyIdParam = Type.String({ pattern: idSchemaPattern('key'), description: 'A key id, `key_…`.' });

export const KeyParams = Type.Object(
  { domainId: DomainIdParam, keyId: KeyIdParam },
  { additionalProperties: false },
);

/** A key's scope: a kind (every action on it) or `kind:action`. */
export const Scope = Type.Union(
  validScopes.map((s) => Type.Literal(s)),
  { description: 'A resource kind (every action on it), or `kind:action`, e.g. `postgres:read`.' },
);

const keyFields = {
  id: Type.String(),
  domainId: Type.String(),
  name: Nullable(Type.String()),
  prefix: Type.String({ description: 'The first characters of the key, to tell keys apart.' }),
  scopes: Type.Array(Scope),
  createdAt: Timestamp,
  lastUsedAt: Nullable(Timestamp),
  expiresAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp),
  replacesKeyId: Nullable(Type.String()),
};

export const Key = Type.Object(keyFields);

export const IssuedKey = Type.Object({
  ...keyFields,
  key: Type.String({ description: 'The secret key. It is shown this once and cannot be read again.' }),
});
