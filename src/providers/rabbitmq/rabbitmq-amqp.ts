// The part of amqplib the provider uses, as small structural types, and how its errors are read: the
// broker's refusals (a reply code on a channel or connection close) are told apart from everything else
// (network, timeouts), which proves nothing either way.
import { connect, type Channel, type ConfirmChannel } from 'amqplib';

export type AmqpChannel = Pick<
  Channel,
  | 'assertQueue'
  | 'checkQueue'
  | 'deleteQueue'
  | 'bindQueue'
  | 'sendToQueue'
  | 'publish'
  | 'get'
  | 'consume'
  | 'close'
  | 'on'
>;
export type AmqpConfirmChannel = AmqpChannel & Pick<ConfirmChannel, 'waitForConfirms'>;

export interface AmqpSession {
  channel(): Promise<AmqpChannel>;
  confirmChannel(): Promise<AmqpConfirmChannel>;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;
const ignore = (): void => {};

/** Connects exactly as a tenant would with its URL. Stray 'error' events never crash the process. */
export async function openAmqp(url: string): Promise<AmqpSession> {
  const model = await connect(url, { timeout: CONNECT_TIMEOUT_MS });
  model.on('error', ignore);
  const watch = <C extends AmqpChannel>(ch: C): C => {
    ch.on('error', ignore);
    return ch;
  };
  return {
    channel: async () => watch(await model.createChannel()),
    confirmChannel: async () => watch(await model.createConfirmChannel()),
    close: () => model.close().catch(ignore),
  };
}

/**
 * The broker's refusal in an amqplib error, as text, or null when the error is not one. amqplib gives a
 * channel close its reply code; a connection closed during the handshake only shows in the message.
 */
export function amqpRefusal(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') return error.message;
  if (/^Handshake terminated by server: \d+/.test(error.message)) return error.message;
  if (error.message.includes('got <ConnectionClose'))
    return 'the broker closed the connection at connection.open';
  return null;
}
