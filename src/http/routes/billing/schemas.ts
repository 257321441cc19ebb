// The billing feature's schemas. Every amount and quantity is an integer (money in minor units of the
// price book's currency), bounded so that it stays exact as a JSON number.
import { Type } from '@sinclair/typebox';
import { idSchemaPattern } from '../../../domain/ids.js';
import { periodPattern } from '../../../billing/periods.js';
import { DomainIdParam, DomainPathParam, Nullable, Timestamp } from '../../schemas.js';
import { pageQueryOf } from '../../paging.js';

/** The largest integer a billing field takes: 2^53 − 1, so no JSON reader rounds it. */
const maxInteger = Number.MAX_SAFE_INTEGER;
/** The largest unit price or `per`: a line's amount then stays within 2^63 for any quantity the API takes. */
const maxPrice = 1_000_000_000;

export const MeterName = Type.String({
  pattern: '^[a-z][a-z0-9_.-]{0,62}$',
  description: 'A meter: lowercase letters, digits, `_`, `.`, `-`; 1–63 characters, starting with a letter.',
});

export const Quantity = Type.Integer({ minimum: 0, maximum: maxInteger });

export const UsageInput = Type.Object(
  {
    meter: MeterName,
    quantity: Quantity,
    eventId: Type.String({
      pattern: '^[\\x21-\\x7e]{1,200}$',
      description: 'Stable for the event: a retry with the same id counts once (printable ASCII, 1–200).',
    }),
    at: Timestamp,
  },
  { additionalProperties: false },
);

export const UsageRecord = Type.Object({
  eventId: Type.String(),
  meter: Type.String(),
  quantity: Type.Integer(),
  at: Timestamp,
  recorded: Type.Boolean({ description: 'False when this event id was recorded before: it counted once.' }),
});

export const UsageQuery = Type.Object(
  {
    from: Timestamp,
    to: Timestamp,
    meter: Type.Optional(MeterName),
  },
  { additionalProperties: false },
);

export const UsageBuckets = Type.Object({
  items: Type.Array(
    Type.Object({
      day: Type.String({ description: 'The UTC day, `YYYY-MM-DD`.' }),
      meter: Type.String(),
      quantity: Type.Integer(),
    }),
  ),
});

const PriceFields = {
  unitPrice: Type.Integer({
    minimum: 0,
    maximum: maxPrice,
    description: 'Minor units of the currency per `per` units.',
  }),
  per: Type.Optional(Type.Integer({ minimum: 1, maximum: maxPrice, description: 'Default 1.' })),
  included: Type.Optional(
    Type.Integer({ minimum: 0, maximum: maxInteger, description: 'Units free each period; default 0.' }),
  ),
};

export const PriceBookInput = Type.Object(
  {
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217, e.g. `EUR`.' }),
    meters: Type.Array(
      Type.Object(
        {
          meter: MeterName,
          unit: Type.String({ pattern: '^[a-zA-Z0-9 _./-]{1,32}$' }),
          ...PriceFields,
          overrides: Type.Optional(
            Type.Array(
              Type.Object({ domainId: DomainIdParam, ...PriceFields }, { additionalProperties: false }),
              {
                maxItems: 1000,
              },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      { maxItems: 200 },
    ),
  },
  { additionalProperties: false },
);

const Price = {
  unitPrice: Type.Integer(),
  per: Type.Integer(),
  included: Type.Integer(),
};

export const PriceBook = Type.Object({
  currency: Type.String(),
  meters: Type.Array(
    Type.Object({
      meter: Type.String(),
      unit: Type.String(),
      ...Price,
      overrides: Type.Array(Type.Object({ domainId: Type.String(), ...Price })),
    }),
  ),
});

export const periodParam = Type.String({ pattern: periodPattern, description: 'A month in UTC, `YYYY-MM`.' });
export const PeriodParams = Type.Object({ period: periodParam }, { additionalProperties: false });

export const CloseResult = Type.Object({
  period: Type.String(),
  created: Type.Integer({ description: 'Invoices this close wrote.' }),
  existing: Type.Integer({ description: 'Domains whose invoice for the period was written before.' }),
});

export const InvoiceParams = Type.Object(
  {
    domainId: DomainPathParam,
    invoiceId: Type.String({ pattern: idSchemaPattern('invoice'), description: 'An invoice id, `inv_…`.' }),
  },
  { additionalProperties: false },
);

const InvoiceLine = Type.Object({
  position: Type.Integer(),
  meter: Type.String(),
  unit: Type.String(),
  quantity: Type.Integer(),
  included: Type.Integer(),
  billable: Type.Integer(),
  unitPrice: Type.Integer(),
  per: Type.Integer(),
  amount: Type.Integer({ description: 'Minor units: billable × unitPrice ÷ per, rounded half up, once.' }),
});

const invoiceFields = {
  id: Type.String(),
  domainId: Type.String(),
  number: Type.Integer({ description: "The domain's own sequence: 1, 2, 3 …" }),
  period: Type.String(),
  currency: Type.String(),
  subtotal: Type.Integer(),
  total: Type.Integer({ description: 'The sum of the lines (no tax is computed).' }),
  contentHash: Type.String({ description: "SHA-256 of the invoice's content, also in the audit chain." }),
  closedAt: Timestamp,
  status: Type.Union(['open', 'paid', 'void', 'uncollectible'].map((s) => Type.Literal(s))),
  statusChangedAt: Nullable(Timestamp),
  paymentReference: Nullable(Type.String()),
};

export const InvoiceSummary = Type.Object(invoiceFields);
export const Invoice = Type.Object({ ...invoiceFields, lines: Type.Array(InvoiceLine) });

export const InvoiceListQuery = Type.Object(
  {
    ...pageQueryOf({ pageSize: 20, maxPageSize: 100 }),
    before: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2_147_483_647,
        deprecated: true,
        description: 'Deprecated: send `cursor`. Invoices numbered below this.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const PayInput = Type.Object(
  {
    reference: Type.String({
      pattern: '^[\\x20-\\x7e]{1,200}$',
      description: "The payment's reference (a bank transfer's, a receipt number).",
    }),
  },
  { additionalProperties: false },
);

// What the invoice PDF's standard font prints (Latin-1), with no space at either end.
const printable = '\\x20-\\x7e\\xa0-\\xac\\xae-\\xff';
const edge = '\\x21-\\x7e\\xa1-\\xac\\xae-\\xff';
/** Text printed on invoices: `max` printable Latin-1 characters at most, none a control character. */
const InvoiceText = (max: number, description: string) =>
  Type.String({
    minLength: 1,
    maxLength: max,
    pattern: `^[${edge}](?:[${printable}]*[${edge}])?$`,
    description: `${description} 1–${max} printable Latin-1 characters, no space at either end.`,
  });

export const BillingDetailsInput = Type.Object(
  {
    name: InvoiceText(200, 'Who the invoices are made out to.'),
    addressLines: Type.Array(InvoiceText(100, 'A line of the street address.'), { minItems: 1, maxItems: 4 }),
    city: InvoiceText(100, 'The city.'),
    postalCode: Type.String({
      maxLength: 20,
      pattern: '^[A-Za-z0-9](?:[A-Za-z0-9 -]{0,18}[A-Za-z0-9])?$',
      description: 'Letters, digits, spaces and `-`; 1–20 characters.',
    }),
    country: Type.String({
      maxLength: 2,
      pattern: '^[A-Z]{2}$',
      description: 'ISO 3166-1 alpha-2, e.g. `DE`.',
    }),
    email: Type.String({ format: 'email', maxLength: 254, description: 'Where invoices go.' }),
    taxId: Type.Optional(
      Nullable(
        Type.String({
          maxLength: 32,
          pattern: '^[A-Za-z0-9](?:[A-Za-z0-9 .-]{0,30}[A-Za-z0-9])?$',
          description: 'A VAT or tax number, e.g. `DE123456789`; 1–32 letters, digits, spaces, `.`, `-`.',
        }),
      ),
    ),
  },
  { additionalProperties: false },
);

export const BillingDetails = Type.Object({
  domainId: Type.String(),
  name: Type.String(),
  addressLines: Type.Array(Type.String()),
  city: Type.String(),
  postalCode: Type.String(),
  country: Type.String(),
  email: Type.String(),
  taxId: Nullable(Type.String()),
  updatedAt: Timestamp,
});
