// A domain's billing details: the name and address its invoices are made out to. Every field is checked
// here beyond its schema (a country that ISO 3166-1 names); the text is what the invoice PDF's standard
// font prints, Latin-1, so what is stored is exactly what the invoice shows.
import { BulkheadError } from '../errors.js';
import type { NewBillingDetails } from '../store/repositories/billing-details.js';
import type { BillingDetailsRow } from '../store/schema.js';

/** What billing details are set to: the fields they are stored with, but the domain and the time. */
export type BillingDetailsInput = Omit<NewBillingDetails, 'domainId' | 'taxId' | 'updatedAt'> & {
  readonly taxId?: string | null | undefined;
};

export interface BillingDetailsView {
  readonly domainId: string;
  readonly name: string;
  readonly addressLines: string[];
  readonly city: string;
  readonly postalCode: string;
  readonly country: string;
  readonly email: string;
  readonly taxId: string | null;
  readonly updatedAt: string;
}

/** Codes of two capital letters that name no country (user-assigned, or groups of countries). */
const notCountries = new Set(['AA', 'EU', 'EZ', 'UN', 'QO', 'XA', 'XB', 'ZZ']);
const regions = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });

/** Whether `code` is an ISO 3166-1 alpha-2 country code (as the runtime's ICU data knows them). */
export function isCountryCode(code: string): boolean {
  if (!/^[A-Z]{2}$/.test(code) || notCountries.has(code)) return false;
  try {
    return regions.of(code) !== code;
  } catch {
    return false;
  }
}

/** The checks the schema cannot make; throws `invalid_request` naming the field. */
export function checkBillingDetails(input: BillingDetailsInput): void {
  if (!isCountryCode(input.country))
    throw new BulkheadError(
      'invalid_request',
      `\`country\` "${input.country}" is not an ISO 3166-1 alpha-2 country code.`,
    );
}

export function detailsView(row: BillingDetailsRow): BillingDetailsView {
  const lines: unknown =
    typeof row.address_lines === 'string' ? JSON.parse(row.address_lines) : row.address_lines;
  return {
    domainId: row.domain_id,
    name: row.name,
    addressLines: (lines as string[]).slice(),
    city: row.city,
    postalCode: row.postal_code,
    country: row.country,
    email: row.email,
    taxId: row.tax_id,
    updatedAt: row.updated_at.toISOString(),
  };
}
