// Configuration is read here and only here: environment variables (BULKHEAD_…) merged with command-line
// flags, checked by one schema, frozen, and passed down. A bad value stops the start with one line.
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);

const schema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8080),
  dataDir: z.string().min(1).default('.bulkhead'),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  operatorToken: z.string().min(32, 'must be at least 32 characters').optional(),
  secret: z.string().min(32, 'must be at least 32 characters (for example 64 hex digits)').optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  bodyLimit: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(64 * 1024),
  url: z.url().optional(),
});

export type Config = Readonly<z.infer<typeof schema>>;
export type ConfigInput = Partial<Record<keyof z.input<typeof schema>, string | number | undefined>>;

const envNames: Record<keyof z.input<typeof schema>, string> = {
  host: 'BULKHEAD_HOST',
  port: 'BULKHEAD_PORT',
  dataDir: 'BULKHEAD_DATA_DIR',
  databaseUrl: 'BULKHEAD_DATABASE_URL',
  operatorToken: 'BULKHEAD_OPERATOR_TOKEN',
  secret: 'BULKHEAD_SECRET',
  logLevel: 'BULKHEAD_LOG_LEVEL',
  bodyLimit: 'BULKHEAD_BODY_LIMIT',
  url: 'BULKHEAD_URL',
};

/** Thrown when configuration is wrong; its message is the one line the user sees. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Builds the configuration from the environment and flags (flags win). Empty strings count as unset.
 *
 * @example
 * const config = loadConfig(process.env, { port: 9000 });
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: ConfigInput = {}): Config {
  const raw: Record<string, string | number> = {};
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '') as keyof typeof envNames;
    throw new ConfigError(`invalid configuration: ${envNames[key] ?? key} ${issue.message}`);
  }
  return Object.freeze(parsed.data);
}

/** Decodes the server secret: 64+ hex digits as bytes, anything else as its UTF-8 bytes. */
export function decodeSecret(secret: string): Buffer {
  if (/^([0-9a-fA-F]{2}){32,}$/.test(secret)) return Buffer.from(secret, 'hex');
  return Buffer.from(secret, 'utf8');
}
