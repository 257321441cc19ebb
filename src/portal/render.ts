// Renders the portal's pages: each page's template inside the layout, with the domain's branding, the
// request's CSP nonce and the session's form token. Templates are compiled once, when the renderer is
// made; Eta escapes every `<%= %>` value.
import { Eta } from 'eta';
import * as templates from './templates.js';

export interface PageSite {
  readonly host: string;
  readonly displayName: string;
  readonly primaryColor: string;
  readonly accentColor: string;
  readonly supportEmail: string | null;
  readonly supportUrl: string | null;
  readonly logo: { readonly sha256: string } | null;
}

export interface PageUser {
  readonly email: string;
  readonly role: string;
}

export type PageName =
  | 'signIn'
  | 'dashboard'
  | 'resources'
  | 'resource'
  | 'members'
  | 'sessions'
  | 'audit'
  | 'usage'
  | 'invoices'
  | 'consoleSignIn'
  | 'consoleHome'
  | 'consoleDomains'
  | 'consoleDomain'
  | 'consoleGrants'
  | 'problem';

const pageNames: readonly PageName[] = [
  'signIn',
  'dashboard',
  'resources',
  'resource',
  'members',
  'sessions',
  'audit',
  'usage',
  'invoices',
  'consoleSignIn',
  'consoleHome',
  'consoleDomains',
  'consoleDomain',
  'consoleGrants',
  'problem',
];

const navItems = [
  { href: '/', label: 'Dashboard' },
  { href: '/resources', label: 'Resources' },
  { href: '/members', label: 'Members' },
  { href: '/audit', label: 'Audit trail' },
  { href: '/usage', label: 'Usage' },
  { href: '/invoices', label: 'Invoices' },
  { href: '/sessions', label: 'My sessions' },
] as const;

/** The operator console's menu (its pages are at the control plane's own host). */
export const consoleNav = [
  { href: '/console', label: 'Overview' },
  { href: '/console/domains', label: 'Domains' },
  { href: '/console/grants', label: 'Grants' },
] as const;

/** The console's own look: no domain's branding ever reaches the control plane's host. */
export function consoleSite(host: string): PageSite {
  return {
    host,
    displayName: 'Bulkhead console',
    primaryColor: '#1f2937',
    accentColor: '#2563eb',
    supportEmail: null,
    supportUrl: null,
    logo: null,
  };
}

/** What a whole page is rendered with. */
export interface PageInput {
  readonly site: PageSite;
  readonly nonce: string;
  readonly title: string;
  readonly path: string;
  readonly user: PageUser | null;
  readonly csrf: string;
  readonly data: Record<string, unknown>;
  /** The menu and the sign-out form's action, when not the portal's. */
  readonly nav?: readonly { readonly href: string; readonly label: string }[] | undefined;
  readonly signOut?: string | undefined;
}

export class PortalRenderer {
  private readonly eta = new Eta({ autoEscape: true, autoTrim: false, cache: true, useWith: false });

  constructor() {
    this.eta.loadTemplate('@layout', templates.layout);
    for (const name of pageNames) this.eta.loadTemplate(`@${name}`, templates[name]);
  }

  /** A whole page of `site`. */
  page(name: PageName, input: PageInput): string {
    const common = { site: input.site, user: input.user, csrf: input.csrf };
    const body = this.eta.render(`@${name}`, { ...common, ...input.data });
    return this.eta.render('@layout', {
      ...common,
      nonce: input.nonce,
      title: input.title,
      body,
      nav: (input.nav ?? navItems).map((i) => ({ ...i, current: i.href === input.path })),
      signOut: input.signOut ?? '/sign-out',
    });
  }

  /** The page of a host that names no domain. */
  bare(): string {
    return templates.bare;
  }
}
