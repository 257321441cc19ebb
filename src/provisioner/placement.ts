// Which provider serves a kind on this server, and whether a recorded resource lives on it. A resource
// remembers the backend it was created on; a server configured for another backend of the same kind
// refuses to touch it (and says which server would), rather than act on the wrong backend.
import type { ResourceKind } from '../domain/kinds.js';
import { BulkheadError } from '../errors.js';
import { describeBackend, sameBackend, type BackendIdentity, type Provider } from '../providers/provider.js';
import { howToReach, settingOfKind } from '../providers/settings.js';
import type { ResourceRow } from '../store/schema.js';

export type Providers = ReadonlyMap<ResourceKind, Provider>;

/** Where a resource lives: its provider here, or why this server cannot reach it. */
export type Placed = { provider: Provider } | { refusal: BulkheadError };

/**
 * Why this server will not `verb` a resource: it lives on `recorded` (null: not recorded, a row from
 * before 0016), and this server's backend for its kind is `configured` (null: none). Names both, and the
 * variable that points a server at the resource's backend.
 */
function notConfigured(
  row: ResourceRow,
  verb: string,
  recorded: BackendIdentity | null,
  configured: BackendIdentity | null,
): BulkheadError {
  const kind = row.kind as ResourceKind;
  const here =
    configured === null
      ? `this server has no ${kind} backend`
      : `this server's ${kind} backend is ${describeBackend(configured)}`;
  const fix =
    recorded === null
      ? `with ${settingOfKind(kind)} set to the backend it was created on`
      : howToReach(recorded);
  const where = recorded === null ? `is a ${kind} resource` : `lives on ${describeBackend(recorded)}`;
  return new BulkheadError(
    'backend_not_configured',
    `${row.id} ${where} and ${here}, so nothing was changed: start a server ${fix} to ${verb} it.`,
    { hint: `start a server ${fix}, then ${verb} it there` },
  );
}

export class Placement {
  constructor(readonly providers: Providers) {}

  get kinds(): ResourceKind[] {
    return [...this.providers.keys()];
  }

  /** The provider this server offers `kind` with; `unsupported_kind` when it has none. */
  provider(kind: string): Provider {
    const provider = this.providers.get(kind as ResourceKind);
    if (provider === undefined) {
      const setting = settingOfKind(kind as ResourceKind);
      throw new BulkheadError(
        'unsupported_kind',
        `No provider for "${kind}" is configured: this server was started without ${setting}.`,
        { hint: `start the server with ${setting} set to offer ${kind} resources` },
      );
    }
    return provider;
  }

  /**
   * The provider of the backend a resource lives on, or why this server cannot reach it: the resource
   * recorded another backend than the one configured for its kind, or its kind has none here. A row from
   * before backends were recorded is taken to live on the configured one.
   */
  placed(row: ResourceRow, verb: string): Placed {
    const provider = this.providers.get(row.kind as ResourceKind);
    const recorded: BackendIdentity | null =
      row.backend === null || row.backend_location === null
        ? null
        : { type: row.backend, location: row.backend_location };
    if (provider !== undefined && (recorded === null || sameBackend(provider.backend, recorded))) {
      return { provider };
    }
    return { refusal: notConfigured(row, verb, recorded, provider?.backend ?? null) };
  }

  /** The provider a resource lives on; throws `backend_not_configured` when this server has another. */
  providerOf(row: ResourceRow, verb: string): Provider {
    const placed = this.placed(row, verb);
    if ('refusal' in placed) throw placed.refusal;
    return placed.provider;
  }

  /** Each kind with the backend this server has for it. */
  backends(): { kind: string; type: string; location: string }[] {
    return [...this.providers].map(([kind, p]) => ({
      kind,
      type: p.backend.type,
      location: p.backend.location,
    }));
  }
}
