// The domain's shape in responses: the allow-list of what leaves the server about a domain.
import { Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../schemas.js';

export const DomainStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('suspended'),
  Type.Literal('deleted'),
]);

export const Domain = Type.Object(
  {
    id: Type.String(),
    slug: Type.String(),
    name: Type.String(),
    status: DomainStatus,
    createdAt: Timestamp,
    updatedAt: Timestamp,
    suspendedAt: Nullable(Timestamp),
    suspendReason: Nullable(
      Type.String({ description: 'Why it is suspended: `billing` (non-payment) is lifted by payment.' }),
    ),
    deletedAt: Nullable(Timestamp),
  },
  { additionalProperties: false },
);
