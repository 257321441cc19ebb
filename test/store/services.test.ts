// The store suite: services and the audit chain on the real PostgreSQL server and on PGlite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventHash } from '../../src/audit/chain.js';
import { appendAudit, listAudit, verifyAudit } from '../../src/audit/log.js';
import { BulkheadError, type ErrorCode } from '../../src/errors.js';
import type { Actor } from '../../src/policy/principal.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { cutOverSingleChain, migrationNames } from '../../src/store/migrations.js';
import { DataDirLockedError, openStore } from '../../src/store/store.js';
import {
  asOwner,
  backends,
  createTestDatabase,
  openTestServices,
  testSecret,
  untilSomeoneWaitsForALock,
} from '../helpers/backends.js';

const actor: Actor = { actor: 'operator', requestId: 'req_test' };

async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | 'none'> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    if (error instanceof BulkheadError) return error.code;
    throw error;
  }
}

let counter = 0;
const uniqueSlug = (base = 'tenant') => `${base}-${process.pid}-${++counter}`;

describe.each(backends)('store on $name', (backend) => {
  let s: Services & { drop(): Promise<void> };

  beforeAll(async () => {
    s = await openTestServices(backend);
  });
  afterAll(async () => {
    await s.drop();
  });

  describe('domains', () => {
    it('creates a domain with a normalised slug and audits it in the same transaction', async () => {
      const slug = uniqueSlug('Acme');
      const d = await s.domains.create(actor, { slug, name: 'Acme Inc' });
      expect(d).toMatchObject({ slug: slug.toLowerCase(), name: 'Acme Inc', status: 'active' });
      expect(d.id).toMatch(/^dom_/);
      const events = await asOwner(s.store, (tx) => listAudit(tx, { domainId: d.id }));
      expect(events.map((e) => [e.action, e.actor, e.outcome, e.requestId])).toEqual([
        ['domain.create', 'operator', 'success', 'req_test'],
      ]);
    });

    it('treats slugs that differ only by case or width as the same', async () => {
      const slug = uniqueSlug('dup');
      await s.domains.create(actor, { slug, name: 'first' });
      expect(await codeOf(s.domains.create(actor, { slug: slug.toUpperCase(), name: 'second' }))).toBe(
        'slug_taken',
      );
      const fullwidth = [...slug]
        .map((c) => (/[a-z]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c))
        .join('');
      expect(await codeOf(s.domains.create(actor, { slug: fullwidth, name: 'third' }))).toBe('slug_taken');
      expect((await s.domains.list({ slug })).map((d) => d.name)).toEqual(['first']);
    });

    it('lets exactly one of many concurrent creations of a slug win', async () => {
      const slug = uniqueSlug('race');
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => codeOf(s.domains.create(actor, { slug, name: `n${i}` }))),
      );
      expect(results.filter((r) => r === 'none')).toHaveLength(1);
      expect(results.filter((r) => r === 'slug_taken')).toHaveLength(7);
      expect(await s.domains.list({ slug })).toHaveLength(1);
    });

    it('writes nothing when the slug is refused', async () => {
      const before = (await asOwner(s.store, (tx) => listAudit(tx, { limit: 10_000 }))).length;
      for (const bad of ['аcme', 'ad', 'admin', '-x-', 'a_b']) {
        expect(await codeOf(s.domains.create(actor, { slug: bad, name: 'x' }))).toMatch(
          /^slug_|^invalid_slug$/,
        );
      }
      expect((await asOwner(s.store, (tx) => listAudit(tx, { limit: 10_000 }))).length).toBe(before);
    });

    it('moves through active, suspended and deleted, and a deleted domain stays deleted', async () => {
      const d = await s.domains.create(actor, { slug: uniqueSlug(), name: 'x' });
      expect((await s.domains.suspend(actor, d.id)).status).toBe('suspended');
      expect((await s.domains.suspend(actor, d.id)).status).toBe('suspended');
      expect((await s.domains.resume(actor, d.id)).status).toBe('active');
      const deleted = await s.domains.delete(actor, d.id);
      expect(deleted.status).toBe('deleted');
      expect(deleted.deletedAt).not.toBeNull();
      expect(await codeOf(s.domains.resume(actor, d.id))).toBe('domain_deleted');
      expect(await codeOf(s.domains.delete(actor, d.id))).toBe('domain_deleted');
      const actions = (await asOwner(s.store, (tx) => listAudit(tx, { domainId: d.id }))).map(
        (e) => e.action,
      );
      expect(actions).toEqual(['domain.create', 'domain.suspend', 'domain.resume', 'domain.delete']);
    });

    it('keeps a deleted slug in quarantine', async () => {
      const quarantined = await openTestServices(backend, { slugQuarantineMs: 60_000 });
      try {
        const slug = uniqueSlug('quarantine');
        const old = await quarantined.domains.create(actor, { slug, name: 'old' });
        await quarantined.domains.delete(actor, old.id);
        expect(await codeOf(quarantined.domains.create(actor, { slug, name: 'new' }))).toBe(
          'slug_quarantined',
        );
      } finally {
        await quarantined.drop();
      }
    });

    it('hides deleted domains from the default list and, after the quarantine, gives the slug a new id', async () => {
      const slug = uniqueSlug('reuse');
      const old = await s.domains.create(actor, { slug, name: 'old' });
      await s.domains.delete(actor, old.id);
      expect((await s.domains.list({ slug })).map((d) => d.id)).toEqual([]);
      expect((await s.domains.list({ slug, includeDeleted: true })).map((d) => d.id)).toEqual([old.id]);
      const fresh = await s.domains.create(actor, { slug, name: 'new' });
      expect(fresh.id).not.toBe(old.id);
    });

    it('answers not_found for an unknown id', async () => {
      expect(await codeOf(s.domains.get('dom_00000000000000000000000000'))).toBe('not_found');
      expect(await codeOf(s.domains.suspend(actor, 'dom_00000000000000000000000000'))).toBe('not_found');
    });

    it('pages through domains in creation order', async () => {
      const first = await s.domains.list({ limit: 2 });
      expect(first).toHaveLength(2);
      const next = await s.domains.list({ limit: 2, after: first[1]!.id });
      expect(next[0]!.id > first[1]!.id).toBe(true);
    });
  });

  describe('provisioning keys', () => {
    it('stores only a keyed hash, never the secret', async () => {
      const d = await s.domains.create(actor, { slug: uniqueSlug(), name: 'x' });
      const issued = await s.keys.issue(actor, d.id, { name: 'ci' });
      const row = await asOwner(s.store, (tx) =>
        tx.selectFrom('provisioning_keys').selectAll().where('id', '=', issued.id).executeTakeFirstOrThrow(),
      );
      expect(JSON.stringify(row)).not.toContain(issued.key);
      expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
      const audit = await asOwner(s.store, (tx) => listAudit(tx, { domainId: d.id, limit: 1000 }));
      expect(JSON.stringify(audit)).not.toContain(issued.key);
      expect(JSON.stringify(await s.keys.list(d.id))).not.toContain(issued.key);
    });

    it('authenticates a key to its one domain and records the use', async () => {
      const d = await s.domains.create(actor, { slug: uniqueSlug(), name: 'x' });
      const issued = await s.keys.issue(actor, d.id, { scopes: ['postgres', 'storage'] });
      const p = await s.keys.authenticate(issued.key, 'req_a');
      expect(p).toMatchObject({
        kind: 'provisioning_key',
        domainId: d.id,
        keyId: issued.id,
        scopes: ['postgres', 'storage'],
      });
      const [listed] = await s.keys.list(d.id);
      expect(listed!.lastUsedAt).not.toBeNull();
      const uses = await asOwner(s.store, (tx) =>
        listAudit(tx, { domainId: d.id, action: 'key.authenticate' }),
      );
      expect(uses.map((e) => [e.outcome, e.actor, e.requestId])).toEqual([
        ['success', `key:${issued.id}`, 'req_a'],
      ]);
      // Used again at once: the use is recorded, the last-used time (kept to the second) is not moved.
      await s.keys.authenticate(issued.key, 'req_b');
      expect((await s.keys.list(d.id))[0]!.lastUsedAt).toBe(listed!.lastUsedAt);
      const again = await asOwner(s.store, (tx) =>
        listAudit(tx, { domainId: d.id, action: 'key.authenticate' }),
      );
      expect(again.map((e) => e.requestId)).toEqual(['req_a', 'req_b']);
    });

    it('refuses revoked, expired, suspended-domain, deleted-domain, unknown and mistyped keys alike, and logs why', async () => {
      const d = await s.domains.create(actor, { slug: uniqueSlug(), name: 'x' });
      const revoked = await s.keys.issue(actor, d.id);
      await s.keys.revoke(actor, d.id, revoked.id);
      const expiring = await s.keys.issue(actor, d.id, { expiresAt: new Date(Date.now() + 150) });
      const good = await s.keys.issue(actor, d.id);
      await new Promise((r) => setTimeout(r, 200));
      const other = await s.domains.create(actor, { slug: uniqueSlug(), name: 'y' });
      const otherKey = await s.keys.issue(actor, other.id);

      const unknown = (await s.keys.issue(actor, other.id)).key.replace(
        /^(bhk_)(.)/,
        (_m, p: string, c: string) => p + (c === 'A' ? 'B' : 'A'),
      );
      const mistyped = `${good.key.slice(0, -1)}${good.key.endsWith('A') ? 'B' : 'A'}`;
      for (const key of [revoked.key, expiring.key, mistyped, 'bhk_short', 'not-a-key', unknown]) {
        expect(await codeOf(s.keys.authenticate(key, null))).toBe('invalid_credentials');
      }
      await s.domains.suspend(actor, d.id);
      expect(await codeOf(s.keys.authenticate(good.key, null))).toBe('invalid_credentials');
      await s.domains.resume(actor, d.id);
      expect(await codeOf(s.keys.authenticate(good.key, null))).toBe('none');
      await s.domains.delete(actor, other.id);
      expect(await codeOf(s.keys.authenticate(otherKey.key, null))).toBe('invalid_credentials');

      const denied = (
        await asOwner(s.store, (tx) => listAudit(tx, { action: 'key.authenticate', limit: 10_000 }))
      ).filter((e) => e.outcome === 'denied');
      const reasons = denied.map((e) => e.detail['reason']);
      for (const reason of ['revoked', 'expired', 'checksum', 'length', 'prefix', 'domain_inactive']) {
        expect(reasons).toContain(reason);
      }
      expect(JSON.stringify(denied)).not.toContain(good.key.slice(12));
    });

    it('rotates with an overlap: the old key works until the overlap ends, then never again', async () => {
      const d = await s.domains.create(actor, { slug: uniqueSlug(), name: 'x' });
      const first = await s.keys.issue(actor, d.id, { name: 'deploy', scopes: ['redis'] });
      const { key: second, previous } = await s.keys.rotate(actor, d.id, first.id, 1);
      expect(second).toMatchObject({ name: 'deploy', scopes: ['redis'], replacesKeyId: first.id });
      expect(new Date(previous.expiresAt!).getTime()).toBeGreaterThan(Date.now());
      expect(await codeOf(s.keys.authenticate(first.key, null))).toBe('none');
      expect(await codeOf(s.keys.authenticate(second.key, null))).toBe('none');
      await new Promise((r) => setTimeout(r, 1100));
      expect(await codeOf(s.keys.authenticate(first.key, null))).toBe('invalid_credentials');
      expect(await codeOf(s.keys.authenticate(second.key, null))).toBe('none');
      expect(await codeOf(s.keys.rotate(actor, d.id, first.id, 10))).toBe('key_revoked');

      const { key: third } = await s.keys.rotate(actor, d.id, second.id, 0);
      expect(await codeOf(s.keys.authenticate(second.key, null))).toBe('invalid_credentials');
      expect(await codeOf(s.keys.authenticate(third.key, null))).toBe('none');
      expect(await codeOf(s.keys.rotate(actor, d.id, third.id, -1))).toBe('invalid_request');
    });

    it("will not revoke, rotate or list through another domain's id, and changes nothing when asked to", async () => {
      const a = await s.domains.create(actor, { slug: uniqueSlug('a'), name: 'a' });
      const b = await s.domains.create(actor, { slug: uniqueSlug('b'), name: 'b' });
      const bKey = await s.keys.issue(actor, b.id);
      expect(await codeOf(s.keys.revoke(actor, a.id, bKey.id))).toBe('not_found');
      expect(await codeOf(s.keys.rotate(actor, a.id, bKey.id, 0))).toBe('not_found');
      expect(await s.keys.list(a.id)).toEqual([]);
      expect(await codeOf(s.keys.authenticate(bKey.key, null))).toBe('none');
      expect((await s.keys.list(b.id))[0]!.revokedAt).toBeNull();
      expect(await codeOf(s.keys.list('dom_00000000000000000000000000'))).toBe('not_found');
    });

    it('revokes every key when the domain is deleted and refuses new ones', async () => {
      const d = await s.domains.create(actor, { slug: uniqueSlug(), name: 'x' });
      await s.keys.issue(actor, d.id);
      await s.keys.issue(actor, d.id);
      await s.domains.delete(actor, d.id);
      expect((await s.keys.list(d.id)).every((k) => k.revokedAt !== null)).toBe(true);
      expect(await codeOf(s.keys.issue(actor, d.id))).toBe('domain_deleted');
    });

    it('checks scopes and expiry when issuing', async () => {
      const d = await s.domains.create(actor, { slug: uniqueSlug(), name: 'x' });
      expect(await codeOf(s.keys.issue(actor, d.id, { scopes: [] }))).toBe('invalid_request');
      expect(await codeOf(s.keys.issue(actor, d.id, { expiresAt: new Date(Date.now() - 1000) }))).toBe(
        'invalid_request',
      );
      expect(await s.keys.list(d.id)).toEqual([]);
    });
  });

  describe('audit chain', () => {
    it('stays one unbroken chain under concurrent writers', async () => {
      await Promise.all(
        Array.from({ length: 12 }, () => s.domains.create(actor, { slug: uniqueSlug('conc'), name: 'c' })),
      );
      const report = await asOwner(s.store, verifyAudit);
      expect(report.ok).toBe(true);
      const all = await asOwner(s.store, (tx) => listAudit(tx, { limit: 100_000 }));
      expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
      expect(report.headSeq).toBe(all.length);
    });

    it('refuses the whole change when the chain cannot take its event', async () => {
      // The event travels with the COMMIT: a chain without its head (a new domain's chain, with nothing
      // to start from) must fail the transaction, not drop the event and keep the change.
      const cutover = await asOwner(s.store, (tx) =>
        tx.selectFrom('settings').selectAll().where('name', '=', 'audit.cutover').executeTakeFirstOrThrow(),
      );
      const before = await asOwner(s.store, (tx) => listAudit(tx, { limit: 100_000 }));
      await asOwner(s.store, (tx) => tx.deleteFrom('settings').where('name', '=', 'audit.cutover').execute());
      const slug = uniqueSlug('headless');
      try {
        await expect(s.domains.create(actor, { slug, name: 'Headless' })).rejects.toThrow(/"seq"/);
      } finally {
        await asOwner(s.store, (tx) => tx.insertInto('settings').values(cutover).execute());
      }
      expect((await s.domains.list({ limit: 100_000 })).map((d) => d.slug)).not.toContain(slug);
      expect(await asOwner(s.store, (tx) => listAudit(tx, { limit: 100_000 }))).toEqual(before);
      expect((await asOwner(s.store, verifyAudit)).ok).toBe(true);
      // and the chains go on from where they were
      await s.domains.create(actor, { slug, name: 'Headless' });
      expect((await asOwner(s.store, verifyAudit)).ok).toBe(true);
    });

    it('hashes in the database exactly what the chain check recomputes, whatever the event holds', async () => {
      const awkward = [
        { note: 'emoji 😀 and 日本語, a lone \u00e9', quote: '"seq":1,"target":"x"', slash: 'a\\b\nc' },
        {
          seq: 99,
          target: 'dom_x',
          prevHash: 'f'.repeat(64),
          nested: { list: [1, 'two', null, { z: true }] },
        },
        {},
      ];
      for (const detail of awkward) {
        const { headSeq } = await asOwner(s.store, verifyAudit);
        await s.store.system('operator', (tx) =>
          appendAudit(tx, {
            actor: 'tester',
            requestId: null,
            domainId: null,
            action: 'domain.create',
            target: null,
            outcome: 'success',
            detail,
          }),
        );
        const appended = await asOwner(s.store, (tx) => listAudit(tx, { after: headSeq }));
        expect(appended).toHaveLength(1);
        const event = appended[0]!;
        expect(event.detail).toEqual(detail);
        expect(event.hash).toBe(eventHash(event));
      }
      expect((await asOwner(s.store, verifyAudit)).ok).toBe(true);
    });
  });
});

describe.each(backends)('audit tampering on $name', (backend) => {
  let s: Services & { drop(): Promise<void> };
  let a: string;
  let b: string;

  afterEach(async () => {
    await s.drop();
  });

  /** Appends one event to `domainId`'s chain (null: the chain of the events of no domain). */
  async function note(domainId: string | null, label: string): Promise<void> {
    const event = {
      actor: 'tester',
      requestId: null,
      domainId,
      action: 'pool.update' as const,
      target: label,
      outcome: 'success' as const,
      detail: { label },
    };
    if (domainId === null) await s.store.system('operator', (tx) => appendAudit(tx, event));
    else await s.store.withDomain(domainId, (tx) => appendAudit(tx, event));
  }

  // Three chains, interleaved: A holds events 1, 3, 5; B holds 2, 4, 6; the chain of no domain holds 7.
  async function seed(): Promise<void> {
    s = await openTestServices(backend);
    a = (await s.domains.create(actor, { slug: 'tamper-a', name: 'a' })).id;
    b = (await s.domains.create(actor, { slug: 'tamper-b', name: 'b' })).id;
    for (const [domainId, label] of [
      [a, 'a2'],
      [b, 'b2'],
      [a, 'a3'],
      [b, 'b3'],
      [null, 's1'],
    ] as const)
      await note(domainId, label);
    const events = await asOwner(s.store, (tx) => listAudit(tx, { limit: 100 }));
    expect(events.map((e) => [e.seq, e.domainId])).toEqual([
      [1, a],
      [2, b],
      [3, a],
      [4, b],
      [5, a],
      [6, b],
      [7, null],
    ]);
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({ ok: true, checked: 7, headSeq: 7 });
  }

  const idOf = async (seq: number) =>
    (await asOwner(s.store, (tx) => listAudit(tx, { after: seq - 1, limit: 1 })))[0]!.id;

  it('names an edited event', async () => {
    await seed();
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET outcome = 'denied' WHERE seq = 3`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      checked: 2,
      broken: { seq: 3, reason: 'hash_mismatch' },
    });
  });

  it('names an event whose detail was rewritten', async () => {
    await seed();
    await asOwner(s.store, (tx) =>
      sql`UPDATE audit_events SET detail = '{"slug":"evil"}' WHERE seq = 2`.execute(tx),
    );
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      broken: { seq: 2, reason: 'hash_mismatch' },
    });
  });

  it('names an event moved to another chain', async () => {
    await seed();
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET domain_id = ${b} WHERE seq = 5`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({ ok: false, broken: { seq: 5 } });
  });

  it('names a deleted event at the next event of its chain', async () => {
    await seed();
    const next = await idOf(5);
    await asOwner(s.store, (tx) => sql`DELETE FROM audit_events WHERE seq = 3`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      checked: 3,
      broken: { seq: 5, eventId: next, reason: 'prev_hash_mismatch' },
    });
  });

  it('names reordered events, within a chain and across chains', async () => {
    await seed();
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET seq = 1000 WHERE seq = 2`.execute(tx));
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET seq = 2 WHERE seq = 4`.execute(tx));
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET seq = 4 WHERE seq = 1000`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({ ok: false, broken: { seq: 2 } });
    await s.drop();
    await seed();
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET seq = 1000 WHERE seq = 3`.execute(tx));
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET seq = 3 WHERE seq = 4`.execute(tx));
    await asOwner(s.store, (tx) => sql`UPDATE audit_events SET seq = 4 WHERE seq = 1000`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({ ok: false, broken: { seq: 3 } });
  });

  it("notices a chain's newest events being deleted, in every chain", async () => {
    await seed();
    await asOwner(s.store, (tx) => sql`DELETE FROM audit_events WHERE seq = 6`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      broken: { seq: 6, reason: 'head_mismatch' },
    });
    await asOwner(s.store, (tx) => sql`DELETE FROM audit_events WHERE seq IN (2, 4)`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      broken: { seq: 6, reason: 'head_mismatch' },
    });
    await s.drop();
    await seed();
    await asOwner(s.store, (tx) => sql`DELETE FROM audit_events WHERE seq = 7`.execute(tx));
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      broken: { seq: 7, reason: 'head_mismatch' },
    });
  });

  it('notices an event inserted at the end of a chain, or a head removed', async () => {
    await seed();
    const [last] = await asOwner(s.store, (tx) =>
      tx.selectFrom('audit_events').selectAll().where('seq', '=', 5).execute(),
    );
    const forged = {
      seq: 8,
      id: 'evt_forged',
      at: new Date().toISOString(),
      domainId: a,
      actor: 'someone-else',
      action: 'pool.update',
      target: null,
      outcome: 'success',
      requestId: null,
      detail: {},
      prevHash: last!.hash,
    };
    await asOwner(s.store, (tx) =>
      tx
        .insertInto('audit_events')
        .values({
          seq: forged.seq,
          id: forged.id,
          at: new Date(forged.at),
          domain_id: a,
          actor: forged.actor,
          action: forged.action,
          target: null,
          outcome: forged.outcome,
          request_id: null,
          detail: '{}',
          prev_hash: forged.prevHash,
          hash: eventHash(forged),
        })
        .execute(),
    );
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      broken: { seq: 8, reason: 'head_mismatch' },
    });
    await s.drop();
    await seed();
    await asOwner(s.store, (tx) => tx.deleteFrom('audit_heads').where('chain', '=', b).execute());
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      broken: { seq: 6, reason: 'head_mismatch' },
    });
  });

  it('notices an event recomputed and re-chained by someone without the rest of the chain', async () => {
    await seed();
    // Forging one event with a correct-looking hash still breaks the link to the next one of its chain.
    const rows = await asOwner(s.store, (tx) =>
      tx.selectFrom('audit_events').selectAll().where('seq', '=', 2).execute(),
    );
    const row = rows[0]!;
    const forged = {
      seq: 2,
      id: row.id,
      at: row.at.toISOString(),
      domainId: row.domain_id,
      actor: 'someone-else',
      action: row.action,
      target: row.target,
      outcome: row.outcome,
      requestId: row.request_id,
      detail: row.detail,
      prevHash: row.prev_hash,
    };
    await asOwner(s.store, (tx) =>
      sql`UPDATE audit_events SET actor = 'someone-else', hash = ${eventHash(forged)} WHERE seq = 2`.execute(
        tx,
      ),
    );
    expect(await asOwner(s.store, verifyAudit)).toMatchObject({
      ok: false,
      broken: { seq: 4, reason: 'prev_hash_mismatch' },
    });
  });

  it('keeps the single chain written before the per-domain chains verifying, and catches it edited', async () => {
    // The state of a store before migration 0018: one chain, numbered without gaps, its head in
    // `audit.head`. Migration 0018's step over the data is then run on it, as on an upgrade.
    const dir = backend.name === 'pglite' ? mkdtempSync(join(tmpdir(), 'bulkhead-chains-')) : null;
    const database = backend.name === 'postgres' ? await createTestDatabase() : null;
    const open = () =>
      dir !== null
        ? openStore({ kind: 'pglite', dataDir: dir })
        : openStore({ kind: 'postgres', url: database!.url });
    try {
      let store = await open();
      const legacy: { seq: number; hash: string; id: string }[] = [];
      await asOwner(store, async (tx) => {
        let prevHash = '0'.repeat(64);
        for (let seq = 1; seq <= 3; seq++) {
          const event = {
            seq,
            id: `evt_legacy_${seq}`,
            at: new Date(Date.UTC(2026, 0, seq)).toISOString(),
            domainId: null,
            actor: 'operator',
            action: 'operator.token_created',
            target: null,
            outcome: 'success',
            requestId: null,
            detail: { n: seq },
            prevHash,
          };
          const hash = eventHash(event);
          await tx
            .insertInto('audit_events')
            .values({
              seq,
              id: event.id,
              at: new Date(event.at),
              domain_id: null,
              actor: event.actor,
              action: event.action,
              target: null,
              outcome: event.outcome,
              request_id: null,
              detail: JSON.stringify(event.detail),
              prev_hash: prevHash,
              hash,
            })
            .execute();
          legacy.push({ seq, hash, id: event.id });
          prevHash = hash;
        }
        // The owner reaches every domain's rows in the migrations' system context only.
        await sql`SELECT set_config('bulkhead.system', 'on', true)`.execute(tx);
        await sql`DELETE FROM audit_heads`.execute(tx);
        await sql`DELETE FROM settings WHERE name = 'audit.cutover'`.execute(tx);
        await tx
          .insertInto('settings')
          .values({ name: 'audit.head', value: JSON.stringify({ seq: 3, hash: prevHash }) })
          .execute();
        // Migration 0018's step over the data, as on an upgrade (the migrations after it cannot be undone
        // to run 0018 itself again).
        await cutOverSingleChain(tx as unknown as Kysely<unknown>);
      });
      await store.close();
      store = await open();
      const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
      try {
        const d = await services.domains.create(actor, { slug: 'after-cutover', name: 'x' });
        await services.keys.issue(actor, d.id);
        await store.system('operator', (tx) =>
          appendAudit(tx, {
            actor: 'operator',
            requestId: null,
            domainId: null,
            action: 'operator.token_created',
            target: null,
            outcome: 'success',
          }),
        );
        const events = await asOwner(store, (tx) => listAudit(tx, { limit: 100 }));
        expect(events.slice(0, 3).map((e) => [e.seq, e.id, e.hash])).toEqual(
          legacy.map((e) => [e.seq, e.id, e.hash]),
        );
        // Every chain starts linked to the single chain's head, and numbering goes on from it.
        const firsts = events.slice(3);
        expect(firsts.map((e) => e.seq)).toEqual([4, 5, 6]);
        expect(firsts.filter((e) => e.domainId === d.id)[0]!.prevHash).toBe(legacy[2]!.hash);
        expect(firsts.find((e) => e.domainId === null)!.prevHash).toBe(legacy[2]!.hash);
        expect(await asOwner(store, verifyAudit)).toMatchObject({ ok: true, checked: 6, headSeq: 6 });

        await asOwner(store, (tx) =>
          sql`UPDATE audit_events SET outcome = 'denied' WHERE seq = 2`.execute(tx),
        );
        expect(await asOwner(store, verifyAudit)).toMatchObject({
          ok: false,
          broken: { seq: 2, reason: 'hash_mismatch' },
        });
        await asOwner(store, (tx) => sql`DELETE FROM audit_events WHERE seq = 2`.execute(tx));
        expect(await asOwner(store, verifyAudit)).toMatchObject({
          ok: false,
          broken: { seq: 2, eventId: null, reason: 'sequence_gap' },
        });
        // The single chain's newest event gone: it no longer ends at the cutover.
        await asOwner(store, (tx) => sql`DELETE FROM audit_events WHERE seq IN (1, 3)`.execute(tx));
        expect(await asOwner(store, verifyAudit)).toMatchObject({
          ok: false,
          broken: { seq: 1, reason: 'head_mismatch' },
        });
      } finally {
        await services.provisioner.stop();
      }
      await store.close();
    } finally {
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
      await database?.drop();
    }
  });
});

describe('embedded data directory', () => {
  it('keeps data across restarts and keeps a second process out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulkhead-store-'));
    try {
      const first = await openStore({ kind: 'pglite', dataDir: dir });
      await asOwner(first, (tx) =>
        tx.insertInto('settings').values({ name: 'probe', value: 'kept' }).execute(),
      );
      await expect(openStore({ kind: 'pglite', dataDir: dir })).rejects.toBeInstanceOf(DataDirLockedError);
      await first.close();
      const second = await openStore({ kind: 'pglite', dataDir: dir });
      const row = await asOwner(second, (tx) =>
        tx.selectFrom('settings').select('value').where('name', '=', 'probe').executeTakeFirst(),
      );
      expect(row?.value).toBe('kept');
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a key revoked while its use is on its way, on PostgreSQL', () => {
  it('refuses the use and records it as refused, never as a success after the revocation', async () => {
    const database = await createTestDatabase();
    const store = await openStore({ kind: 'postgres', url: database.url, poolSize: 5 });
    const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
    const holder = new pg.Client({ connectionString: database.url });
    const watcher = new pg.Client({ connectionString: database.url });
    try {
      await holder.connect();
      await watcher.connect();
      const d = await services.domains.create(actor, { slug: uniqueSlug('race'), name: 'x' });
      // A key never used (its use would write the last-used time) and one used a moment ago (it would not).
      const fresh = await services.keys.issue(actor, d.id);
      const recent = await services.keys.issue(actor, d.id);
      await services.keys.authenticate(recent.key, 'req_before');
      for (const key of [fresh, recent]) {
        // A revocation in flight, taking its locks as every writer does: the key's row, then the head of
        // the domain's chain. The use reads the key (still live) and waits on one of the two.
        await holder.query('BEGIN');
        await holder.query('UPDATE provisioning_keys SET revoked_at = now() WHERE id = $1', [key.id]);
        await holder.query(`SELECT 1 FROM audit_heads WHERE chain = $1 FOR UPDATE`, [d.id]);
        const outcome = services.keys.authenticate(key.key, `req_${key.id}`).then(
          () => 'allowed',
          (error: unknown) => (error instanceof BulkheadError ? error.code : error),
        );
        await untilSomeoneWaitsForALock(watcher, 'the key use never waited for the revocation');
        await holder.query('COMMIT');
        expect(await outcome).toBe('invalid_credentials');
        const uses = await asOwner(store, (tx) =>
          listAudit(tx, { domainId: d.id, action: 'key.authenticate', limit: 100 }),
        );
        expect(
          uses.filter((e) => e.requestId === `req_${key.id}`).map((e) => [e.outcome, e.detail['reason']]),
        ).toEqual([['denied', 'revoked']]);
      }
      const listed = await services.keys.list(d.id);
      expect(listed.find((k) => k.id === fresh.id)!.lastUsedAt).toBeNull();
    } finally {
      await holder.end().catch(() => undefined);
      await watcher.end().catch(() => undefined);
      await services.provisioner.stop();
      await store.close();
      await database.drop();
    }
  });
});

describe('migrations on PostgreSQL', () => {
  it('run again on a migrated database without change', async () => {
    const database = await createTestDatabase();
    try {
      const first = await openStore({ kind: 'postgres', url: database.url });
      await asOwner(first, (tx) =>
        tx.insertInto('settings').values({ name: 'probe', value: 'kept' }).execute(),
      );
      await first.close();
      const second = await openStore({ kind: 'postgres', url: database.url });
      const applied = await asOwner(second, (tx) =>
        sql<{ name: string }>`SELECT name FROM bulkhead_migrations ORDER BY name`.execute(tx),
      );
      expect(applied.rows.map((r) => r.name)).toEqual([...migrationNames]);
      expect(migrationNames[0]).toBe('0001_core');
      const row = await asOwner(second, (tx) =>
        tx.selectFrom('settings').select('value').where('name', '=', 'probe').executeTakeFirst(),
      );
      expect(row?.value).toBe('kept');
      await second.close();
    } finally {
      await database.drop();
    }
  });
});
