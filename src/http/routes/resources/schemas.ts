// Resources and pools in requests and responses. A resource's answer never carries its credentials;
// they have a route of their own.
import { Type } from '@sinclair/typebox';
import { DomainPathParam, Nullable, ResourceIdParam, ResourceKind, Timestamp } from '../../schemas.js';

export const ResourceParams = Type.Object(
  { domainId: DomainPathParam, resourceId: ResourceIdParam },
  { additionalProperties: false },
);

/** A resource's credentials, as its provider hands them out: strings and numbers by name. */
export const Credentials = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]));

export const ResourceStatus = Type.Union(
  ['pending', 'provisioning', 'ready', 'failed', 'deprovisioning', 'deleted'].map((s) => Type.Literal(s)),
);

export const Resource = Type.Object({
  id: Type.String(),
  domainId: Type.String(),
  kind: ResourceKind,
  name: Type.String(),
  status: ResourceStatus,
  error: Nullable(Type.String()),
  usedBytes: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  readyAt: Nullable(Timestamp),
  deletedAt: Nullable(Timestamp),
});

export const Quotas = Type.Object({
  postgres: Type.Integer({ minimum: 0 }),
  redis: Type.Integer({ minimum: 0 }),
  rabbitmq: Type.Integer({ minimum: 0 }),
  storage: Type.Integer({ minimum: 0 }),
  kubernetes: Type.Integer({ minimum: 0 }),
  storageBytes: Type.Integer({ minimum: 0 }),
  instances: Type.Integer({ minimum: 0 }),
  volumes: Type.Integer({ minimum: 0 }),
  volumeBytes: Type.Integer({ minimum: 0 }),
});
