// The operator token authorises control-plane calls. It is either configured (BULKHEAD_OPERATOR_TOKEN)
// or generated once at first start, shown that once, and kept only as a keyed hash. A metrics token
// (BULKHEAD_METRICS_TOKEN), when configured, is a second bearer token that reads /metrics and nothing else;
// a feed token (BULKHEAD_FEED_TOKEN) reads every domain's revocations and nothing else, for a verifier
// that serves every domain.
import { randomBytes } from 'node:crypto';
import { appendAudit } from '../audit/log.js';
import { BulkheadError } from '../errors.js';
import { keyedHash, sameHash } from '../keys/hash.js';
import type { Principal } from '../policy/principal.js';
import { insertSettingIfAbsent, saveSetting, setting } from '../store/repositories/settings.js';
import type { Store } from '../store/store.js';

const hashSetting = 'operator.token_hash';
const newOperatorToken = () => `bho_${randomBytes(32).toString('base64url')}`;

export class OperatorService {
  private hash: string | null = null;
  private readonly metricsHash: string | null;
  private readonly feedHash: string | null;

  constructor(
    private readonly deps: {
      readonly store: Store;
      readonly secret: Buffer;
      readonly metricsToken?: string | undefined;
      readonly feedToken?: string | undefined;
    },
  ) {
    this.metricsHash = deps.metricsToken === undefined ? null : keyedHash(deps.secret, deps.metricsToken);
    this.feedHash = deps.feedToken === undefined ? null : keyedHash(deps.secret, deps.feedToken);
  }

  /**
   * Loads the operator token's hash. Returns the token only when it was generated just now, so the
   * caller can show it once.
   */
  async initialise(configured: string | undefined): Promise<{ generated: string | null }> {
    if (configured !== undefined) {
      this.hash = keyedHash(this.deps.secret, configured);
      return { generated: null };
    }
    const token = newOperatorToken();
    const hash = keyedHash(this.deps.secret, token);
    const created = await this.deps.store.system('operator', async (tx) => {
      if (!(await insertSettingIfAbsent(tx, hashSetting, hash))) return false;
      await appendAudit(tx, {
        actor: 'system',
        requestId: null,
        domainId: null,
        action: 'operator.token_created',
        target: null,
        outcome: 'success',
      });
      return true;
    });
    if (created) {
      this.hash = hash;
      return { generated: token };
    }
    this.hash = await this.deps.store.system('operator', (tx) => setting(tx, hashSetting));
    return { generated: null };
  }

  /**
   * Replaces the stored operator token with a new one and returns it, for an operator who lost it.
   * Running servers keep the hash they loaded until they restart.
   */
  async reset(actor: string): Promise<string> {
    const token = newOperatorToken();
    const hash = keyedHash(this.deps.secret, token);
    await this.deps.store.system('operator', async (tx) => {
      await saveSetting(tx, hashSetting, hash);
      await appendAudit(tx, {
        actor,
        requestId: null,
        domainId: null,
        action: 'operator.token_created',
        target: null,
        outcome: 'success',
        detail: { reset: true },
      });
    });
    this.hash = hash;
    return token;
  }

  /**
   * What a console cookie is bound to: the keyed hash of the operator token now in force, so that a new
   * token ends every console session made under the old one. Never shown.
   */
  tokenBinding(): string {
    if (this.hash === null) throw new Error('OperatorService.initialise was not called');
    return this.hash;
  }

  /**
   * The operator (or metrics or feed reader) principal for a matching token; `invalid_credentials` otherwise.
   * Before `initialise` there is no operator token, so none matches: a request is refused, never a crash.
   */
  authenticate(presented: string): Principal & { kind: 'operator' | 'metrics' | 'feed' } {
    const hash = keyedHash(this.deps.secret, presented);
    if (this.hash !== null && sameHash(this.hash, hash)) return { kind: 'operator', actor: 'operator' };
    if (this.metricsHash !== null && sameHash(this.metricsHash, hash))
      return { kind: 'metrics', actor: 'metrics' };
    if (this.feedHash !== null && sameHash(this.feedHash, hash)) return { kind: 'feed', actor: 'feed' };
    throw new BulkheadError('invalid_credentials');
  }
}
