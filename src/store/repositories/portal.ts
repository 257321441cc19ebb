// The portal's hosts and branding (migration 0026). A host names no domain until it is looked up, so
// finding the domain of a host takes the system context; everything else is read and written in the
// domain's own transaction.
import type { PortalBrandingRow } from '../schema.js';
import { domainSessionByCookieStatement } from './sessions.js';
import type { DomainQueries, DomainTx, SystemQueries } from '../store.js';

/**
 * The statement (for `Store.systemRead`) that finds the active domain a host names, with its branding
 * (without the logo's bytes).
 */
export function portalByHostStatement(db: SystemQueries, host: string) {
  return db
    .selectFrom('portal_hosts')
    .innerJoin('domains', 'domains.id', 'portal_hosts.domain_id')
    .leftJoin('portal_branding', 'portal_branding.domain_id', 'portal_hosts.domain_id')
    .select([
      'portal_hosts.domain_id',
      'domains.slug',
      'domains.name',
      'domains.status',
      'portal_branding.display_name',
      'portal_branding.primary_color',
      'portal_branding.accent_color',
      'portal_branding.support_email',
      'portal_branding.support_url',
      'portal_branding.logo_type',
      'portal_branding.logo_hash',
    ])
    .where('portal_hosts.host', '=', host);
}

/** The statement (for `Store.systemRead`) that finds the domain a host names, whatever its status. */
export function hostOwnerStatement(db: SystemQueries, hosts: readonly string[]) {
  return db
    .selectFrom('portal_hosts')
    .select(['host', 'domain_id'])
    .where('host', 'in', hosts.length === 0 ? [''] : [...hosts]);
}

/** The statement (for `Store.systemRead`) that lists every portal host (for a development certificate). */
export function allHostsStatement(db: SystemQueries) {
  return db.selectFrom('portal_hosts').select('host').orderBy('host').limit(1000);
}

/** The domain's portal hosts, sorted. */
export async function domainHosts(tx: DomainTx, domainId: string): Promise<string[]> {
  const rows = await tx
    .selectFrom('portal_hosts')
    .select('host')
    .where('domain_id', '=', domainId)
    .orderBy('host')
    .execute();
  return rows.map((r) => r.host);
}

/** Replaces the domain's portal hosts with `hosts` (already normalised and checked free). */
export async function replaceDomainHosts(
  tx: DomainTx,
  domainId: string,
  hosts: readonly string[],
  at: Date,
): Promise<void> {
  await tx.deleteFrom('portal_hosts').where('domain_id', '=', domainId).execute();
  if (hosts.length === 0) return;
  await tx
    .insertInto('portal_hosts')
    .values(hosts.map((host) => ({ host, domain_id: domainId, created_at: at })))
    .execute();
}

/** The domain's branding, logo included, or undefined. */
export function brandingOf(tx: DomainTx, domainId: string): Promise<PortalBrandingRow | undefined> {
  return tx.selectFrom('portal_branding').selectAll().where('domain_id', '=', domainId).executeTakeFirst();
}

/** Branding to store; the logo is kept as it is unless `logo` is given (null removes it). */
export interface NewBranding {
  readonly displayName: string;
  readonly primaryColor: string;
  readonly accentColor: string;
  readonly supportEmail: string | null;
  readonly supportUrl: string | null;
}

/** Inserts or replaces the domain's branding (the logo is left as it is). */
export async function saveBranding(tx: DomainTx, domainId: string, b: NewBranding, at: Date): Promise<void> {
  const row = {
    display_name: b.displayName,
    primary_color: b.primaryColor,
    accent_color: b.accentColor,
    support_email: b.supportEmail,
    support_url: b.supportUrl,
    updated_at: at,
  };
  await tx
    .insertInto('portal_branding')
    .values({ domain_id: domainId, ...row })
    .onConflict((oc) => oc.column('domain_id').doUpdateSet(row))
    .execute();
}

/** Sets (or with null, removes) the logo of a domain that has branding; false when it has none. */
export async function saveLogo(
  tx: DomainTx,
  domainId: string,
  logo: { readonly base64: string; readonly type: string; readonly hash: string } | null,
  at: Date,
): Promise<boolean> {
  const done = await tx
    .updateTable('portal_branding')
    .set({
      logo: logo?.base64 ?? null,
      logo_type: logo?.type ?? null,
      logo_hash: logo?.hash ?? null,
      updated_at: at,
    })
    .where('domain_id', '=', domainId)
    .returning('domain_id')
    .executeTakeFirst();
  return done !== undefined;
}

/**
 * The dashboard's figures as statements for one `Store.read` in the domain: how many resources and
 * members the domain has, the person's live sessions, and the person's own name (email or client id).
 */
export function dashboardStatements(db: DomainQueries, domainId: string, principalId: string, now: Date) {
  return dashboardFigures(db, domainId, [principalId], now);
}

/** The principal of the session whose portal cookie has the keyed hash `cookieHash`, as a subquery. */
const personOfCookie = (db: DomainQueries, domainId: string, cookieHash: string) =>
  db
    .selectFrom('sessions')
    .select('principal_id')
    .where('domain_id', '=', domainId)
    .where('cookie_hash', '=', cookieHash);

/** The dashboard's figures for a person named by id, or by the subquery that finds them. */
function dashboardFigures(
  db: DomainQueries,
  domainId: string,
  person: string[] | ReturnType<typeof personOfCookie>,
  now: Date,
) {
  return [
    db
      .selectFrom('resources')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('domain_id', '=', domainId)
      .where('status', '<>', 'deleted'),
    db
      .selectFrom('principals')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('domain_id', '=', domainId)
      .where('status', '<>', 'deleted'),
    db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('domain_id', '=', domainId)
      .where('principal_id', 'in', person)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now),
    db
      .selectFrom('principals')
      .select(['email', 'client_id'])
      .where('domain_id', '=', domainId)
      .where('id', 'in', person),
  ] as const;
}

/**
 * `dashboardStatements` for the person whose portal cookie has the keyed hash `cookieHash`, with that
 * cookie's session (`domainSessionByCookieStatement`) first: the page and its session in one read of the
 * host's domain. The person's figures are those of the principal of the cookie's session, live or not;
 * they are used only when the first statement found it live.
 */
export function dashboardByCookieStatements(
  db: DomainQueries,
  domainId: string,
  cookieHash: string,
  now: Date,
) {
  return [
    domainSessionByCookieStatement(db, domainId, cookieHash, now),
    ...dashboardFigures(db, domainId, personOfCookie(db, domainId, cookieHash), now),
  ] as const;
}
