// The provider's options, checked once when the provider is built: a bad value stops the start with one
// clear line, and everything below this file may take the settings as valid.
import { hostPort, ProviderError } from '../provider.js';

export interface RedisProviderOptions {
  /**
   * The admin connection (`redis://` or `rediss://`). Its user needs ACL SETUSER/DELUSER/GETUSER/USERS,
   * CLIENT KILL, SCAN, UNLINK, ACL DRYRUN, CONFIG GET and ACL SAVE on every key: in practice an admin
   * user (`+@all ~* &*`). A database number in the URL is ignored: tenants live in database 0.
   */
  readonly adminUrl: string;
  /** The host credentials name, when tenants reach the server by another name. Default: adminUrl's. */
  readonly publicHost?: string | undefined;
  /** The port credentials name. Default: adminUrl's. */
  readonly publicPort?: number | undefined;
  /**
   * Hand out credentials even though the server's `default` user needs no password (development only:
   * any tenant can then `AUTH default` and read everything). Default false.
   */
  readonly allowOpenDefaultUser?: boolean | undefined;
}

export interface RedisSettings {
  /** The admin URL with any database number removed. */
  readonly adminUrl: string;
  /** Where the admin URL reaches the server, host:port; no secret. */
  readonly address: string;
  /** `rediss:` when the admin connection uses TLS; tenants are handed the same scheme. */
  readonly scheme: 'redis:' | 'rediss:';
  readonly publicHost: string;
  readonly publicPort: number;
  readonly allowOpenDefaultUser: boolean;
}

function invalid(message: string): never {
  throw new ProviderError('redis', 'invalid_options', message);
}

/** Checks the options and fills in the defaults. */
export function redisSettings(options: RedisProviderOptions): RedisSettings {
  let url: URL;
  try {
    url = new URL(options.adminUrl);
  } catch {
    return invalid('redis adminUrl is not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    invalid('redis adminUrl must be a redis:// URL');
  const host = options.publicHost ?? url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') invalid('redis publicHost is needed when adminUrl names no host');
  const port = options.publicPort ?? (url.port === '' ? 6379 : Number(url.port));
  if (!Number.isInteger(port) || port < 1 || port > 65_535) invalid('redis publicPort must be a TCP port');
  // Tenants cannot SELECT, so they always work in database 0; the admin must look there too.
  url.pathname = '';
  return {
    adminUrl: url.toString(),
    address: hostPort(
      url.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
      url.port === '' ? 6379 : url.port,
    ),
    scheme: url.protocol,
    publicHost: host,
    publicPort: port,
    allowOpenDefaultUser: options.allowOpenDefaultUser === true,
  };
}
