// A domain's signing key as the operator sees it: its state and dates, never the private key.
import { Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../schemas.js';

export const SigningKey = Type.Object({
  kid: Type.String(),
  domainId: Type.String(),
  state: Type.Union([Type.Literal('next'), Type.Literal('current'), Type.Literal('retired')]),
  createdAt: Timestamp,
  activatedAt: Nullable(Timestamp),
  retiredAt: Nullable(Timestamp),
  publishUntil: Nullable(Timestamp),
});
