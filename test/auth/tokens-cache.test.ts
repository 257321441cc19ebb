// A process remembers the access tokens it has verified, and forgets them at every revocation: its own at
// their commit, another process's when the database notifies it, and all of them when it cannot hear the
// notifications, in which case it asks the database again for every token until it can.
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revocationNotifyChannel } from '../../src/identity/revocations.js';
import type { Services } from '../../src/runtime.js';
import type { Store } from '../../src/store/store.js';
import { asOwner } from '../helpers/backends.js';
import { listenerPids, noticeKeySetups, openTwoProcesses, pause, until } from '../helpers/notices.js';

const actor = { actor: 'operator', requestId: null };
const password = 'correct horse battery staple';

describe.each(noticeKeySetups)(
  'verified tokens remembered across two processes on one PostgreSQL store, $keys',
  ({ noticeKey }) => {
    let database: { url: string; drop(): Promise<void> };
    let stores: Store[];
    let one: Services; // revokes
    let two: Services; // verifies
    let domainId: string;
    let principal: Parameters<Services['tokens']['issue']>[1];
    let admin: pg.Client;

    let close: () => Promise<void>;

    beforeAll(async () => {
      ({ close, database, stores, one, two, admin } = await openTwoProcesses(noticeKey));
      const d = await one.domains.create(actor, { slug: 'cache', name: 'cache' });
      domainId = d.id;
      const user = await one.principals.create(actor, d.id, {
        kind: 'user',
        email: 'u@example.com',
        password,
      });
      principal = await stores[0]!.withDomain(d.id, (tx) =>
        tx.selectFrom('principals').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow(),
      );
    });

    afterAll(() => close());

    const issue = async () => (await one.tokens.issue(actor, principal, 'test')).access_token;
    const sessionOf = (token: string) =>
      (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
    /** Whether `by` answers the token from memory: it accepts it while its session has expired behind its back. */
    const answeredFromMemory = async (token: string, by: Services = two) => {
      await asOwner(stores[1]!, (tx) =>
        tx
          .updateTable('sessions')
          .set({ expires_at: new Date(Date.now() - 1000) })
          .where('id', '=', sessionOf(token))
          .execute(),
      );
      const stillAccepted = await by.tokens.verify(token).then(
        () => true,
        () => false,
      );
      await asOwner(stores[1]!, (tx) =>
        tx
          .updateTable('sessions')
          .set({ expires_at: new Date(Date.now() + 3_600_000) })
          .where('id', '=', sessionOf(token))
          .execute(),
      );
      return stillAccepted;
    };
    /** Verifies until `by` has the token in memory (a change behind the database's back goes unseen). */
    const remembered = async (token: string, by: Services = two) => {
      await until(async () => {
        await by.tokens.verify(token);
        return answeredFromMemory(token, by);
      });
    };
    const refusedWithin = async (token: string): Promise<number> => {
      const started = performance.now();
      for (;;) {
        const refused = await two.tokens.verify(token).then(
          () => false,
          () => true,
        );
        const elapsed = performance.now() - started;
        if (refused) return elapsed;
        if (elapsed > 100) throw new Error(`still accepted ${elapsed.toFixed(0)} ms after the revocation`);
        await pause(1);
      }
    };

    it('answers a token again from memory, and refuses it within 100 ms of a revocation at the other process', async () => {
      const token = await issue();
      await remembered(token);
      expect(await one.tokens.revokeSession(actor, sessionOf(token), 'test', domainId)).toBe(true);
      expect(await refusedWithin(token)).toBeLessThan(100);
    });

    it('refuses at the very next verification a token the same process revoked', async () => {
      const token = await issue();
      await remembered(token, one);
      await one.tokens.revokeSession(actor, sessionOf(token), 'test', domainId);
      await expect(one.tokens.verify(token)).rejects.toMatchObject({ code: 'invalid_credentials' });
    });

    it('asks the database for every token while it cannot hear revocations, and remembers again once it can', async () => {
      const token = await issue();
      await remembered(token);
      const listeners = () => listenerPids(admin);
      // Both processes listen; cut them all off. Nothing can notify them until they reconnect (a second later).
      const cut = await listeners();
      expect(cut.length).toBeGreaterThan(0);
      for (const pid of cut) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await until(async () => (await listeners()).length === 0);
      await pause(20);
      // Revoked behind the other process's back: no notification can reach it, and yet it refuses at once.
      await asOwner(stores[0]!, (tx) =>
        tx
          .updateTable('sessions')
          .set({ revoked_at: new Date() })
          .where('id', '=', sessionOf(token))
          .execute(),
      );
      await expect(two.tokens.verify(token)).rejects.toMatchObject({ code: 'invalid_credentials' });
      // It listens again by itself, and remembers and forgets as before.
      await until(async () => (await listeners()).length >= 1);
      const again = await issue();
      await remembered(again);
      await one.tokens.revokeSession(actor, sessionOf(again), 'test', domainId);
      expect(await refusedWithin(again)).toBeLessThan(100);
    });

    // With keys of their own, a bare notice may be another process's revocation: it must empty the cache,
    // so this holds only where the processes share the key; the other setup has no such test (never a skip).
    if (noticeKey !== undefined)
      it('keeps what it remembers through a flood of notices it did not send: bare, forged or replayed', async () => {
        // A revocation's notice as it went out, taken off the channel by someone connected to the database.
        const listener = new pg.Client({ connectionString: database.url });
        await listener.connect();
        try {
          const heard: string[] = [];
          listener.on('notification', (n) => heard.push(n.payload ?? ''));
          await listener.query(`LISTEN ${revocationNotifyChannel}`);
          const other = await issue();
          await one.tokens.revokeSession(actor, sessionOf(other), 'test', domainId);
          await until(() => Promise.resolve(heard.length > 0));
          const captured = heard[0]!;
          const record = captured.slice(captured.indexOf('.') + 1);
          const token = await issue();
          await remembered(token);
          heard.length = 0;
          const flood = ['', record, `${'A'.repeat(43)}.${record}`, captured];
          const rounds = 50;
          for (let i = 0; i < rounds; i++) {
            // One transaction each: the server folds identical notices of one transaction into one.
            for (const payload of flood)
              await admin.query(`SELECT pg_notify('${revocationNotifyChannel}', $1)`, [payload]);
          }
          await until(() => Promise.resolve(heard.length >= rounds * flood.length));
          await pause(100);
          expect(await answeredFromMemory(token)).toBe(true);
          // A real revocation still empties it.
          await one.tokens.revokeSession(actor, sessionOf(token), 'test', domainId);
          expect(await refusedWithin(token)).toBeLessThan(100);
        } finally {
          await listener.end();
        }
      });

    it('forgets nothing it should not: a suspended domain refuses, a resumed one accepts a fresh token', async () => {
      const token = await issue();
      await remembered(token);
      await one.domains.suspend(actor, domainId);
      expect(await refusedWithin(token)).toBeLessThan(100);
      await one.domains.resume(actor, domainId);
      const fresh = await issue();
      await expect(two.tokens.verify(fresh)).resolves.toMatchObject({ domainId });
      // Nothing of the scoped reads lingers on the pooled connections.
      const left = await stores[1]!.system('operator', (tx) =>
        sql<{ d: string | null }>`SELECT current_setting('bulkhead.domain_id', true) AS d`.execute(tx),
      );
      expect(left.rows[0]!.d ?? '').toBe('');
    });
  },
);
