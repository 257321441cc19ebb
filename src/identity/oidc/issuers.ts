// Each domain's issuer: `<public url>/d/<slug>` once BULKHEAD_PUBLIC_URL is set, else the one installation
// issuer every token carried before (BULKHEAD_ISSUER). A domain's id and slug never change together (a
// slug re-used later belongs to a new id, with new keys and a new audience), so the slug of an id is
// remembered for the life of the process; whether the domain is still active is asked every time.
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
}

/** A domain as an OpenID Provider. */
export interface DomainIssuer {
  readonly domainId: string;
  readonly slug: string;
  readonly issuer: string;
}

const slugShape = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?$/;

export class Issuers {
  private readonly slugs = new Map<string, string>();
  private readonly legacyUntil: number;

  constructor(private readonly o: IssuerOptions) {
    this.legacyUntil = Date.now() + o.legacyGraceMs;
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

  /** The active domain behind an issuer's slug, or null (unknown, suspended, deleted, or no public URL). */
  async bySlug(slug: string): Promise<DomainIssuer | null> {
    if (this.o.publicUrl === undefined || !slugShape.test(slug)) return null;
    const [[row]] = await this.o.store.systemRead('jwks', (db) => [activeDomainBySlugStatement(db, slug)]);
    if (row === undefined) return null;
    this.slugs.set(row.id, row.slug);
    return { domainId: row.id, slug: row.slug, issuer: this.issuerOf(row.slug) };
  }
}
