import { notFound } from '../../../errors.js';
import { AuthorizationCodes } from '../../../identity/oidc/codes.js';
import type { DomainIssuer } from '../../../identity/oidc/issuers.js';
import type { Services } from '../../../runtime.js';

/**
 * The active domain an issuer path names; 404 for an unknown, suspended or deleted one, and for every
 * domain while the server has no public URL (BULKHEAD_PUBLIC_URL).
 */
export async function issuerOf(services: Services, slug: string): Promise<DomainIssuer> {
  const found = await services.issuers.bySlug(slug);
  if (found === null) throw notFound();
  return found;
}

const codeServices = new WeakMap<Services, AuthorizationCodes>();

/** The authorization codes of these services (one per server). */
export function codesOf(services: Services): AuthorizationCodes {
  let codes = codeServices.get(services);
  if (codes === undefined) {
    codes = new AuthorizationCodes(services);
    codeServices.set(services, codes);
  }
  return codes;
}
