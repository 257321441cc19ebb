// A bare AMQP 0-9-1 connection handshake, frame by frame. amqplib reports a refused connection.open
// without the broker's reply code; the probe needs the code and text to show what refused it, and the
// tests need to pause between login and connection.open (the gap a password rotation has to cover).
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface HandshakeTarget {
  readonly scheme: 'amqp' | 'amqps';
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

export type HandshakeOutcome =
  | { readonly ok: true; readonly closed: Promise<void>; close(): void }
  | { readonly ok: false; readonly stage: 'login' | 'open'; readonly code: number; readonly text: string };

const FRAME_END = 0xce;
const STEP_TIMEOUT_MS = 10_000;

const shortstr = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const longstr = (b: Buffer) => Buffer.concat([u32(b.length), b]);

function methodFrame(classId: number, methodId: number, args: Buffer[]): Buffer {
  const payload = Buffer.concat([u16(classId), u16(methodId), ...args]);
  return Buffer.concat([Buffer.from([1]), u16(0), u32(payload.length), payload, Buffer.from([FRAME_END])]);
}

// The broker answers a failed login with connection.close (instead of dropping the socket) only to a
// client that says it understands that.
const clientProperties = (() => {
  const capabilities = Buffer.concat([
    shortstr('authentication_failure_close'),
    Buffer.from('t'),
    Buffer.from([1]),
  ]);
  const table = Buffer.concat([shortstr('capabilities'), Buffer.from('F'), longstr(capabilities)]);
  return longstr(table);
})();

interface Method {
  readonly classId: number;
  readonly methodId: number;
  readonly args: Buffer;
}

/** Reads method frames off a socket, one at a time, in order. */
class FrameReader {
  private buffer = Buffer.alloc(0);
  private readonly frames: Method[] = [];
  private waiter: ((m: Method | Error) => void) | null = null;
  private ended: Error | null = null;
  /** Once open, a connection.close from the broker is answered (close-ok) and the socket ended. */
  answerClose = false;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 8) {
        const size = this.buffer.readUInt32BE(3);
        if (this.buffer.length < size + 8) break;
        const payload = this.buffer.subarray(7, 7 + size);
        const type = this.buffer[0];
        this.buffer = this.buffer.subarray(size + 8);
        if (type === 1) {
          this.push({
            classId: payload.readUInt16BE(0),
            methodId: payload.readUInt16BE(2),
            args: payload.subarray(4),
          });
        }
      }
    });
    const end = (error?: Error) => {
      this.ended ??= error ?? new Error('the broker closed the socket');
      this.waiter?.(this.ended);
      this.waiter = null;
    };
    socket.on('error', end);
    socket.on('close', () => end());
  }

  private push(m: Method): void {
    if (this.answerClose && m.classId === 10 && m.methodId === 50) {
      this.socket.end(methodFrame(10, 51, []));
      return;
    }
    if (this.waiter !== null) {
      this.waiter(m);
      this.waiter = null;
    } else this.frames.push(m);
  }

  next(): Promise<Method> {
    const queued = this.frames.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended !== null) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error('the broker did not answer in time'));
      }, STEP_TIMEOUT_MS);
      this.waiter = (m) => {
        clearTimeout(timer);
        if (m instanceof Error) reject(m);
        else resolve(m);
      };
    });
  }
}

function closeReason(m: Method): { code: number; text: string } {
  const code = m.args.readUInt16BE(0);
  const length = m.args[2] ?? 0;
  return { code, text: m.args.subarray(3, 3 + length).toString('utf8') };
}

function connectSocket(t: HandshakeTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      t.scheme === 'amqps'
        ? tlsConnect({ host: t.host, port: t.port, ...(isIP(t.host) === 0 ? { servername: t.host } : {}) })
        : tcpConnect({ host: t.host, port: t.port });
    const ready = t.scheme === 'amqps' ? 'secureConnect' : 'connect';
    socket.setTimeout(STEP_TIMEOUT_MS, () => socket.destroy(new Error('connecting to the broker timed out')));
    socket.once(ready, () => {
      socket.setTimeout(0);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Logs in as `username` and opens `vhost`, reporting the broker's refusal with its reply code. Network
 * failures and protocol surprises throw. `beforeOpen` runs between the login and connection.open.
 *
 * @example
 * const outcome = await amqpHandshake(target, 'bh_…');
 * if (outcome.ok) outcome.close(); else console.log(outcome.code, outcome.text); // 530 NOT_ALLOWED - …
 */
export async function amqpHandshake(
  target: HandshakeTarget,
  vhost: string,
  beforeOpen?: () => Promise<void>,
): Promise<HandshakeOutcome> {
  const socket = await connectSocket(target);
  const frames = new FrameReader(socket);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let open = false;
  try {
    socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    const start = await frames.next();
    if (start.classId !== 10 || start.methodId !== 10)
      throw new Error('the broker did not start a connection');
    const response = Buffer.from(`\0${target.username}\0${target.password}`, 'utf8');
    socket.write(
      methodFrame(10, 11, [clientProperties, shortstr('PLAIN'), longstr(response), shortstr('en_US')]),
    );
    const tune = await frames.next();
    if (tune.classId === 10 && tune.methodId === 50)
      return { ok: false, stage: 'login', ...closeReason(tune) };
    if (tune.classId !== 10 || tune.methodId !== 30)
      throw new Error('the broker did not tune the connection');
    // The broker's channel-max and frame-max, no heartbeats: this connection lives for one probe.
    socket.write(methodFrame(10, 31, [tune.args.subarray(0, 2), tune.args.subarray(2, 6), u16(0)]));
    await beforeOpen?.();
    socket.write(methodFrame(10, 40, [shortstr(vhost), shortstr(''), Buffer.from([0])]));
    const opened = await frames.next();
    if (opened.classId === 10 && opened.methodId === 50)
      return { ok: false, stage: 'open', ...closeReason(opened) };
    if (opened.classId !== 10 || opened.methodId !== 41) throw new Error('the broker did not open the vhost');
    open = true;
    frames.answerClose = true;
    return { ok: true, closed, close: () => socket.destroy() };
  } finally {
    if (!open) socket.destroy();
  }
}
