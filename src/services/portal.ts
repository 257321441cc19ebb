// The portal's settings per domain: its hosts and its branding, set by the operator. A host belongs to
// at most one domain, compared in normal form (src/domain/hosts.ts); a logo is kept only when its first
// bytes say PNG, JPEG or WebP (SVG, which can carry script, is refused). `site(host)` is what the portal
// asks of every request: the active domain the host names and its branding, or null — for an unknown
// host, the control plane's own, or a domain that is not active, which then shows nothing of anyone.
import { createHash } from 'node:crypto';
import { appendAudit } from '../audit/log.js';
import { parseHost } from '../domain/hosts.js';
import { sniffImage } from '../domain/images.js';
import { BulkheadError } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { isUniqueViolation } from '../store/errors.js';
import { lockDomain } from '../store/repositories/domains.js';
import {
  brandingOf,
  domainHosts,
  allHostsStatement,
  hostOwnerStatement,
  dashboardByCookieStatements,
  dashboardStatements,
  portalByHostStatement,
  replaceDomainHosts,
  saveBranding,
  saveLogo,
} from '../store/repositories/portal.js';
import { sessionByCookieStatement } from '../store/repositories/sessions.js';
import { compiledOnce } from '../store/compiled-once.js';
import type { DomainTx, Rows, Store } from '../store/store.js';

/** The largest logo kept, in bytes. */
export const maxLogoBytes = 256 * 1024;
/** Hosts one domain may have. */
export const maxHostsPerDomain = 10;

export const defaultColors = { primary: '#1f4f8f', accent: '#0f7b5f' } as const;

export interface BrandingInput {
  readonly displayName: string;
  readonly primaryColor?: string | undefined;
  readonly accentColor?: string | undefined;
  readonly supportEmail?: string | null | undefined;
  readonly supportUrl?: string | null | undefined;
}

/** A domain's portal branding as it is shown and served. */
export interface PortalBranding {
  readonly displayName: string;
  readonly primaryColor: string;
  readonly accentColor: string;
  readonly supportEmail: string | null;
  readonly supportUrl: string | null;
  /** The logo's type and hash (its URL changes with it), or null. */
  readonly logo: { readonly type: string; readonly sha256: string } | null;
}

export interface PortalSettingsView {
  readonly domainId: string;
  readonly hosts: string[];
  readonly branding: PortalBranding | null;
}

/** What a portal page needs of the domain its host names. */
export interface PortalSite extends PortalBranding {
  readonly host: string;
  readonly domainId: string;
  readonly slug: string;
}

const color = /^#[0-9a-f]{6}$/;

function checkColor(value: string | undefined, fallback: string, field: string): string {
  if (value === undefined) return fallback;
  const v = value.trim().toLowerCase();
  if (!color.test(v)) throw new BulkheadError('invalid_request', `${field} must be a colour like #1f4f8f.`);
  return v;
}

export class PortalService {
  constructor(
    private readonly deps: {
      readonly store: Store;
      /** The control plane's own host (the operator console's): never a portal host of any domain. */
      readonly consoleHost?: string | null | undefined;
      /** How long a host's site is kept by `siteAndSession` (5 s by default; 0 keeps nothing). */
      readonly siteCacheMs?: number | undefined;
    },
  ) {}

  private readonly sites = new Map<string, { site: PortalSite | null; until: number }>();

  /** The domain's hosts and branding. */
  async get(domainId: string): Promise<PortalSettingsView> {
    return this.deps.store.withDomain(domainId, async (tx) => {
      await lockDomain(tx, domainId);
      return this.view(tx, domainId);
    });
  }

  private async view(tx: DomainTx, domainId: string): Promise<PortalSettingsView> {
    const [hosts, b] = [await domainHosts(tx, domainId), await brandingOf(tx, domainId)];
    return {
      domainId,
      hosts,
      branding:
        b === undefined
          ? null
          : {
              displayName: b.display_name,
              primaryColor: b.primary_color,
              accentColor: b.accent_color,
              supportEmail: b.support_email,
              supportUrl: b.support_url,
              logo:
                b.logo_type === null || b.logo_hash === null
                  ? null
                  : { type: b.logo_type, sha256: b.logo_hash },
            },
    };
  }

  /**
   * Sets the domain's portal hosts (replacing them) and branding (keeping its logo). A host of another
   * domain is `host_taken`, and so is the control plane's own host (the operator console's); nothing
   * changes.
   */
  async set(
    actor: Actor,
    domainId: string,
    input: { readonly hosts: readonly string[]; readonly branding: BrandingInput },
  ): Promise<PortalSettingsView> {
    const hosts = [...new Set(input.hosts.map(parseHost))].sort();
    if (hosts.length > maxHostsPerDomain)
      throw new BulkheadError('invalid_request', `A domain has at most ${maxHostsPerDomain} portal hosts.`);
    const consoleHost = this.deps.consoleHost ?? null;
    if (consoleHost !== null && hosts.includes(consoleHost))
      throw new BulkheadError(
        'host_taken',
        `${consoleHost} is the control plane's own host (the operator console's), never a portal host.`,
      );
    const b = input.branding;
    const displayName = b.displayName.trim();
    if (displayName === '' || displayName.length > 100)
      throw new BulkheadError('invalid_request', 'displayName must be 1–100 characters.');
    const branding = {
      displayName,
      primaryColor: checkColor(b.primaryColor, defaultColors.primary, 'primaryColor'),
      accentColor: checkColor(b.accentColor, defaultColors.accent, 'accentColor'),
      supportEmail: b.supportEmail?.trim() || null,
      supportUrl: b.supportUrl?.trim() || null,
    };
    if (branding.supportEmail !== null && !/^[^\s@<>"]{1,64}@[^\s@<>"]{1,190}$/.test(branding.supportEmail))
      throw new BulkheadError('invalid_request', 'supportEmail must be an email address.');
    if (branding.supportUrl !== null) {
      let ok = false;
      try {
        ok = new URL(branding.supportUrl).protocol === 'https:' && branding.supportUrl.length <= 500;
      } catch {
        ok = false;
      }
      if (!ok) throw new BulkheadError('invalid_request', 'supportUrl must be an https:// URL.');
    }
    // A host another domain holds is refused before anything is written; the primary key refuses the
    // one that was taken meanwhile.
    const [owners] = await this.deps.store.systemRead('operator', (db) => [hostOwnerStatement(db, hosts)]);
    if (owners.some((o) => o.domain_id !== domainId)) throw hostTaken();
    try {
      const view = await this.deps.store.withDomain(domainId, async (tx) => {
        const domain = await lockDomain(tx, domainId);
        if (domain.status === 'deleted') throw new BulkheadError('domain_deleted');
        const now = new Date();
        await replaceDomainHosts(tx, domainId, hosts, now);
        await saveBranding(tx, domainId, branding, now);
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'portal.update',
          target: domainId,
          outcome: 'success',
          detail: { hosts, displayName },
        });
        return this.view(tx, domainId);
      });
      this.sites.clear();
      return view;
    } catch (error) {
      if (isUniqueViolation(error)) throw hostTaken();
      throw error;
    }
  }

  /** Stores the domain's logo after checking its bytes; a domain without branding gets the defaults. */
  async setLogo(actor: Actor, domainId: string, bytes: Buffer): Promise<PortalSettingsView> {
    if (bytes.length === 0 || bytes.length > maxLogoBytes)
      throw new BulkheadError('invalid_image', `A logo is 1 byte to ${maxLogoBytes / 1024} KiB.`);
    const type = sniffImage(bytes);
    if (type === null)
      throw new BulkheadError('invalid_image', 'A logo must be a PNG, JPEG or WebP file (SVG is refused).');
    const hash = createHash('sha256').update(bytes).digest('hex');
    const view = await this.deps.store.withDomain(domainId, async (tx) => {
      const domain = await lockDomain(tx, domainId);
      if (domain.status === 'deleted') throw new BulkheadError('domain_deleted');
      const now = new Date();
      if ((await brandingOf(tx, domainId)) === undefined)
        await saveBranding(
          tx,
          domainId,
          {
            displayName: domain.name.slice(0, 100) || domain.slug,
            primaryColor: defaultColors.primary,
            accentColor: defaultColors.accent,
            supportEmail: null,
            supportUrl: null,
          },
          now,
        );
      await saveLogo(tx, domainId, { base64: bytes.toString('base64'), type, hash }, now);
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'portal.logo',
        target: domainId,
        outcome: 'success',
        detail: { type, bytes: bytes.length, sha256: hash },
      });
      return this.view(tx, domainId);
    });
    this.sites.clear();
    return view;
  }

  /** The domain's logo, or null. */
  async logo(domainId: string): Promise<{ bytes: Buffer; type: string; sha256: string } | null> {
    const row = await this.deps.store.withDomain(domainId, (tx) => brandingOf(tx, domainId));
    if (row?.logo == null || row.logo_type === null || row.logo_hash === null) return null;
    return { bytes: Buffer.from(row.logo, 'base64'), type: row.logo_type, sha256: row.logo_hash };
  }

  /** Every portal host of every domain (the first 1000), for a development certificate that names them. */
  async allHosts(): Promise<string[]> {
    const [rows] = await this.deps.store.systemRead('operator', (db) => [allHostsStatement(db)]);
    return rows.map((r) => r.host);
  }

  /** The active domain a host (in normal form) names, with its branding; null for any other host. */
  async site(host: string): Promise<PortalSite | null> {
    const [[row]] = await this.deps.store.systemRead('authenticate', (db) => [siteByHost(db, host)]);
    return siteOf(host, row);
  }

  /**
   * The site a host names and the session a portal cookie's hash names, read in one message (the hot
   * path of every portal page). The site (the host's domain and branding) is kept for `siteCacheMs`
   * (5 s by default) in this process, and dropped at once when this process changes any portal
   * setting; the session is read every time. A domain suspended elsewhere still shows its branding on
   * the sign-in page until the entry expires, but no session of it is found: the session's read checks
   * the domain's status itself.
   */
  async siteAndSession(
    host: string,
    cookieHash: string | null,
    now: Date,
  ): Promise<{ site: PortalSite | null; session: PortalSessionRow | undefined }> {
    const cached = this.sites.get(host);
    if (cached !== undefined && cached.until > now.getTime()) {
      if (cookieHash === null) return { site: cached.site, session: undefined };
      const [[session]] = await this.deps.store.systemRead('authenticate', (db) => [
        sessionByCookie(db, cookieHash, now),
      ]);
      return { site: cached.site, session };
    }
    let site: PortalSite | null;
    let session: PortalSessionRow | undefined;
    if (cookieHash === null) {
      site = await this.site(host);
    } else {
      const [[row], [found]] = await this.deps.store.systemRead('authenticate', (db) => [
        siteByHost(db, host),
        sessionByCookie(db, cookieHash, now),
      ]);
      site = siteOf(host, row);
      session = found;
    }
    if (this.sites.size >= maxCachedSites) this.sites.clear();
    this.sites.set(host, { site, until: now.getTime() + (this.deps.siteCacheMs ?? 5000) });
    return { site, session };
  }

  /**
   * The site `siteAndSession` keeps for `host` at `now`, or undefined when it keeps none (null: the
   * host names no active domain).
   */
  cachedSite(host: string, now: Date): PortalSite | null | undefined {
    const cached = this.sites.get(host);
    return cached !== undefined && cached.until > now.getTime() ? cached.site : undefined;
  }

  /** The dashboard's figures: the domain's resources and members, the person's live sessions and name. */
  async dashboard(domainId: string, principalId: string): Promise<DashboardFigures> {
    const rows = await this.deps.store.read(domainId, (db) => [
      ...dashboardFigures(db, domainId, principalId, new Date()),
    ]);
    return figures(rows, principalId);
  }

  /**
   * The live session of the domain a portal cookie's hash names at `now` (as `siteAndSession` reads it,
   * but only in the domain), and the dashboard's figures for its person, in one read of the domain: the
   * dashboard's single round trip. `figures` is null when no such session was found.
   */
  async dashboardAndSession(
    domainId: string,
    cookieHash: string,
    now: Date,
  ): Promise<{ session: PortalSessionRow | undefined; figures: DashboardFigures | null }> {
    const [[session], ...rows] = await this.deps.store.read(domainId, (db) => [
      ...dashboardByCookie(db, domainId, cookieHash, now),
    ]);
    return {
      session,
      figures: session === undefined ? null : figures(rows, session.principal_id),
    };
  }
}

/** What the dashboard shows: how many resources and members, the person's live sessions, their name. */
export interface DashboardFigures {
  readonly resources: number;
  readonly members: number;
  readonly sessions: number;
  readonly name: string;
}

/** The session row a portal cookie's hash names (`sessionByCookieStatement`). */
export type PortalSessionRow = Rows<[ReturnType<typeof sessionByCookieStatement>]>[0][number];

/** Hosts kept by the site cache at most: an unknown host is kept too (as null), so a flood of them is bounded. */
const maxCachedSites = 10_000;

// The hot path's statements, compiled once (src/store/compiled-once.ts).
const siteByHost = compiledOnce(portalByHostStatement);
const sessionByCookie = compiledOnce(sessionByCookieStatement);
const dashboardFigures = compiledOnce(dashboardStatements);
const dashboardByCookie = compiledOnce(dashboardByCookieStatements);

type DashboardRows = Rows<ReturnType<typeof dashboardStatements>>;

/** The dashboard's figures from its rows (`dashboardStatements`'). */
function figures(
  [[resources], [members], [sessions], [me]]: DashboardRows,
  principalId: string,
): DashboardFigures {
  return {
    resources: Number(resources?.n ?? 0),
    members: Number(members?.n ?? 0),
    sessions: Number(sessions?.n ?? 0),
    name: me?.email ?? me?.client_id ?? principalId,
  };
}

function siteOf(
  host: string,
  row: Rows<[ReturnType<typeof portalByHostStatement>]>[0][number] | undefined,
): PortalSite | null {
  if (row === undefined || row.status !== 'active') return null;
  return {
    host,
    domainId: row.domain_id,
    slug: row.slug,
    displayName: row.display_name ?? row.name,
    primaryColor: row.primary_color ?? defaultColors.primary,
    accentColor: row.accent_color ?? defaultColors.accent,
    supportEmail: row.support_email,
    supportUrl: row.support_url,
    logo:
      row.logo_type === null || row.logo_hash === null
        ? null
        : { type: row.logo_type, sha256: row.logo_hash },
  };
}

function hostTaken(): BulkheadError {
  return new BulkheadError('host_taken', 'A host given is already a portal host of another domain.');
}
