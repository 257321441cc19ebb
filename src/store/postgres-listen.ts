// Listening for notifications on PostgreSQL: one connection of its own per channel, proven to hear
// notices before it counts as listening, and replaced whenever it is lost.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openNotice } from './notices.js';

// How long a new listening connection waits for its own probe notice before it is dropped, and how long
// after that a new one is tried.
const listenProbeMs = 5_000;
const listenRetryMs = 30_000;

export type Listen = (
  channel: string,
  onNotify: (payload: string | null) => void,
  onConnection?: (up: boolean) => void,
) => Promise<() => Promise<void>>;

/**
 * Listens on connections to `url` (one that keeps a server session: PostgreSQL or a pooler in session
 * mode), probing each with a notice sent through `notifier`; payloads are opened with `noticeKey`.
 */
export function postgresListen(url: string, notifier: pg.Pool, noticeKey: Buffer): Listen {
  return async (channel, onNotify, onConnection) => {
    let stopped = false;
    let current: pg.Client | null = null;
    let retry: NodeJS.Timeout | null = null;
    const retryLater = (ms = 1_000) => {
      if (stopped || retry !== null) return;
      retry = setTimeout(() => {
        retry = null;
        connect().catch(() => retryLater());
      }, ms);
      retry.unref();
    };
    const connect = async () => {
      const client = new pg.Client({ connectionString: url });
      // A LISTEN answered is no proof that notices arrive: a pooler in transaction mode takes it on a
      // server session it then hands to other clients, which get what that session hears. So the
      // connection counts as listening only once a notice sent from the application pool reaches it.
      const probe = `bulkhead_probe_${randomBytes(12).toString('hex')}`;
      const probeText = randomBytes(12).toString('hex');
      let heard = () => {};
      const probeHeard = new Promise<void>((resolve) => (heard = resolve));
      const lost = () => {
        if (current !== client) return;
        current = null;
        onConnection?.(false);
        retryLater();
      };
      client.on('error', lost);
      client.on('end', lost);
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(openNotice(noticeKey, channel, message.payload));
        else if (message.channel === probe && message.payload === probeText) heard();
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${client.escapeIdentifier(channel)}; LISTEN ${probe}`);
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
      if (stopped) {
        await client.end().catch(() => undefined);
        return;
      }
      current = client;
      void (async () => {
        let timer: NodeJS.Timeout | undefined;
        const arrived = await Promise.race([
          notifier.query(`NOTIFY ${probe}, '${probeText}'`).then(() => probeHeard.then(() => true)),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), listenProbeMs);
            timer.unref();
          }),
        ]).catch(() => false);
        clearTimeout(timer);
        if (current !== client) return;
        if (arrived) {
          onConnection?.(true);
          return;
        }
        // Notices do not reach this connection: dropped, and tried again later; until then whoever
        // listens is told that it may miss them.
        current = null;
        await client.end().catch(() => undefined);
        retryLater(listenRetryMs);
      })();
    };
    await connect();
    return async () => {
      stopped = true;
      if (retry !== null) clearTimeout(retry);
      const client = current;
      current = null;
      await client?.end().catch(() => undefined);
    };
  };
}
