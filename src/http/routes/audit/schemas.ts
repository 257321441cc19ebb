// An audit event as the log serves it, with the hashes that chain it to the one before.
import { Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../schemas.js';

export const AuditEvent = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  at: Timestamp,
  domainId: Nullable(Type.String()),
  actor: Type.String(),
  action: Type.String(),
  target: Nullable(Type.String()),
  outcome: Type.String(),
  requestId: Nullable(Type.String()),
  detail: Type.Record(Type.String(), Type.Unknown()),
  prevHash: Type.String(),
  hash: Type.String(),
});
