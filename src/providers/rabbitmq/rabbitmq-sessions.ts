// Ending a user's live AMQP connections. Neither a new password nor removed permissions touch a
// connection that is already open, so rotation and deletion close them through the management API.
//
// One gap needs a second pass: the broker checks the password at login, and the client may send
// connection.open (the moment the connection becomes live and listed) up to `handshake_timeout` later.
// A client that logged in with the old password just before a rotation therefore opens after the first
// sweep. The late sweep, once that window and the statistics delay have passed, closes every connection
// of the user that the broker accepted before the new password existed.
import { apiPath, type ManagementClient } from './rabbitmq-management.js';
import { isProviderError, ProviderError } from '../provider.js';

const CLOSE_WAIT_MS = 10_000;
const CLOSE_POLL_MS = 25;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ListedConnection {
  readonly name: string;
}

interface ConnectionDetails {
  /** When the broker accepted the socket, by its own clock (ms). */
  readonly connected_at?: number;
}

export class SessionCloser {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly api: ManagementClient,
    private readonly lateSweepMs: number,
  ) {}

  /** The connections of `user` the broker tracks now (from its connection tracking, not statistics). */
  private async list(user: string): Promise<ListedConnection[]> {
    const listed = await this.api.get<ListedConnection[]>(apiPath('connections', 'username', user));
    // The route answers [] for a user without connections, so a 404 means a broker without it, which
    // must not pass for "nothing to close".
    if (!Array.isArray(listed)) {
      throw new ProviderError('rabbitmq', 'management', 'the broker does not list connections by username');
    }
    return listed;
  }

  /**
   * Closes every live connection of `user` and waits until the broker lists none. By username, not one
   * by one: DELETE /connections/{name} answers 404 for a connection younger than the statistics
   * interval, while the username route acts on the broker's connection tracking, which is immediate.
   */
  async closeAll(user: string, reason: string): Promise<void> {
    const deadline = Date.now() + CLOSE_WAIT_MS;
    for (;;) {
      // The broker answers 500 when a connection ends between its listing and its close (the user's
      // deletion closes them too): the listing below decides, and the next round tries again.
      await this.api
        .delete(apiPath('connections', 'username', user), { 'x-reason': reason })
        .catch((error: unknown) => {
          if (!isProviderError(error, 'management')) throw error;
        });
      // Closing is asynchronous; a connection that was mid-open when we asked shows up now.
      await sleep(CLOSE_POLL_MS);
      if ((await this.list(user)).length === 0) return;
      if (Date.now() > deadline) {
        throw new ProviderError(
          'rabbitmq',
          'management',
          `connections of ${user} were still open after ${CLOSE_WAIT_MS} ms; try again`,
        );
      }
    }
  }

  /** Closes the connections of `user` that the broker accepted before `before` (its clock, ms). */
  async closeAcceptedBefore(user: string, before: number, reason: string): Promise<number> {
    let closed = 0;
    for (const { name } of await this.list(user)) {
      const details = await this.api.get<ConnectionDetails>(apiPath('connections', name));
      // No details yet means the connection opened within the last statistics interval, after the window.
      const at = details?.connected_at;
      if (typeof at !== 'number' || at >= before) continue;
      if (await this.api.delete(apiPath('connections', name), { 'x-reason': reason })) closed++;
    }
    return closed;
  }

  /**
   * Runs closeAcceptedBefore once the handshake window has passed. Best effort: it does not survive the
   * process, and close() cancels it.
   */
  scheduleLateSweep(user: string, before: number, reason: string): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.closeAcceptedBefore(user, before, reason).catch(() => {
        // The broker was unreachable: the next rotation or the deletion closes the connection instead.
      });
    }, this.lateSweepMs);
    timer.unref();
    this.timers.add(timer);
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/**
 * A time on the broker's clock that is surely after a change it answered with `date`. The Date header
 * has whole seconds and the HTTP server refreshes it once a second, so it can be up to two seconds
 * behind. Without a Date header (a proxy dropped it), this process's clock stands in.
 */
export function brokerTimeAfter(date: number | null): number {
  return (date === null || Number.isNaN(date) ? Date.now() : date) + 2000;
}
