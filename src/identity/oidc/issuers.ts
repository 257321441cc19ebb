// Each domain's issuer: `<public url>/d/<slug>` once BULKHEAD_PUBLIC_URL is set, else the one installation
// issuer every token carried before (BULKHEAD_ISSUER). A domain with a portal host is an issuer there too,
// `https://<host>`, for the clients that discover it there (docs/identity.md, "The portal host as the
// issuer"): the same domain, keys and audience, so a token of either issuer is the domain's, and each
// issuer's endpoints sign with its own `iss`. A domain's id and slug never change together (a slug re-used
// later belongs to a new id, with new keys and a new audience), so the slug of an id is remembered for the
// life of the process; whether the domain is still active is asked every time.
import { normaliseHost } from '../../domain/hosts.js';
import { activeDomainBySlugStatement, findDomain } from '../../store/repositories/domains.js';
import type { Store } from '../../store/store.js';

export interface IssuerOptions {
  readonly store: Store;
  /** BULKHEAD_PUBLIC_URL, without a trailing slash; undefined: no per-domain issuer. */
  readonly publicUrl: string | undefined;
  /** BULKHEAD_ISSUER: the issuer of tokens signed before the public URL was set. */
  readonly legacyIssuer: string;
  /** How long after this process starts it still accepts tokens carrying the legacy issuer (ms). */
  readonly legacyGraceMs: number;
  /** The active domain whose portal host this is (in normal form), or null. */
  readonly portalSite?: (host: string) => Promise<{ domainId: string; slug: string } | null>;
}

/** A domain as an OpenID Provider. */
export interface DomainIssuer {
  readonly domainId: string;
  readonly slug: string;
  readonly issuer: string;
}

const slugShape = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?$/;
const portalIssuerPrefix = 'https://';

export class Issuers {
  private readonly slugs = new Map<string, string>();
  private readonly legacyUntil: number;

  /** What follows a portal host in its issuer: the public URL's port, when it is not the default. */
  private readonly portSuffix: string;

  constructor(private readonly o: IssuerOptions) {
    this.legacyUntil = Date.now() + o.legacyGraceMs;
    const port = o.publicUrl === undefined ? '' : new URL(o.publicUrl).port;
    this.portSuffix = port === '' ? '' : `:${port}`;
  }

  /** Whether domains are OpenID Providers (BULKHEAD_PUBLIC_URL is set). */
  get enabled(): boolean {
    return this.o.publicUrl !== undefined;
  }

  /** The public base URL, when set. */
  get publicUrl(): string | undefined {
    return this.o.publicUrl;
  }

  /** The issuer URL of a domain by its slug (no lookup). */
  issuerOf(slug: string): string {
    return this.o.publicUrl === undefined ? this.o.legacyIssuer : `${this.o.publicUrl}/d/${slug}`;
  }

  /** The `iss` a new token of this domain carries. */
  async forDomain(domainId: string): Promise<string> {
    if (this.o.publicUrl === undefined) return this.o.legacyIssuer;
    let slug = this.slugs.get(domainId);
    if (slug === undefined) {
      const row = await this.o.store.withDomain(domainId, (tx) => findDomain(tx, domainId));
      if (row === undefined) return this.o.legacyIssuer;
      slug = row.slug;
      this.slugs.set(domainId, slug);
    }
    return this.issuerOf(slug);
  }

  /**
   * The issuers a token of the domain with this slug may carry: its URL, and for a while after the
   * switch (one token lifetime and its leeway after this process started) the legacy issuer too, so
   * tokens signed before the switch verify until they expire.
   */
  accepted(slug: string): string[] {
    if (this.o.publicUrl === undefined) return [this.o.legacyIssuer];
    return Date.now() < this.legacyUntil ? [this.issuerOf(slug), this.o.legacyIssuer] : [this.issuerOf(slug)];
  }

  /**
   * The issuers a token of this domain may carry when it names `iss`: `accepted(slug)`, and `iss` itself
   * when it is the issuer of one of the domain's portal hosts (`https://<host>`, as the host's discovery
   * names it).
   */
  async acceptedFor(slug: string, domainId: string, iss: unknown): Promise<string[]> {
    const accepted = this.accepted(slug);
    if (
      typeof iss !== 'string' ||
      accepted.includes(iss) ||
      !iss.startsWith(portalIssuerPrefix) ||
      !iss.endsWith(this.portSuffix)
    )
      return accepted;
    const host = iss.slice(portalIssuerPrefix.length, iss.length - this.portSuffix.length);
    // Only a host in its normal form is ever an issuer: any other spelling is looked up nowhere.
    if (normaliseHost(host) !== host) return accepted;
    const found = await this.atPortalHost(host);
    return found?.domainId === domainId ? [...accepted, iss] : accepted;
  }

  /** The origin a portal host is served at: `https://<host>`, with the public URL's port if it has one. */
  portalOrigin(host: string): string {
    return `${portalIssuerPrefix}${host}${this.portSuffix}`;
  }

  /**
   * The domain whose portal host this is (in normal form), as the issuer `https://<host>`, or null. The
   * portal hosts are served on the public URL's port (`https://<host>:8443` when it has that port).
   */
  async atPortalHost(host: string): Promise<DomainIssuer | null> {
    if (this.o.publicUrl === undefined || this.o.portalSite === undefined) return null;
    const site = await this.o.portalSite(host);
    if (site === null) return null;
    return { domainId: site.domainId, slug: site.slug, issuer: this.portalOrigin(host) };
  }

  /** The active domain behind an issuer's slug, or null (unknown, suspended, deleted, or no public URL). */
  async bySlug(slug: string): Promise<DomainIssuer | null> {
    if (this.o.publicUrl === undefined || !slugShape.test(slug)) return null;
    const [[row]] = await this.o.store.systemRead('jwks', (db) => [activeDomainBySlugStatement(db, slug)]);
    if (row === undefined) return null;
    this.slugs.set(row.id, row.slug);
    return { domainId: row.id, slug: row.slug, issuer: this.issuerOf(row.slug) };
  }
}
