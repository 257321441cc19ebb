// `bulkhead oauth-client …`: each domain's registered OAuth clients (docs/identity.md, "OAuth clients"),
// managed by the operator (BULKHEAD_OPERATOR_TOKEN with --url, or the store directly).
import type { Command } from 'commander';
import type { NewClientInput } from '../../identity/oidc/clients.js';
import { printJson, printMany, readJsonFile, resolveDomain, type CliContext } from '../context.js';

const columns = ['id', 'clientId', 'name', 'kind', 'tokenEndpointAuthMethod', 'redirectUris', 'grantTypes'];
const many = (value: string, previous: string[] = []) => [...previous, value];

/**
 * The public keys of a `private_key_jwt` client from a JSON file: a JWK Set, or one JWK taken as a set of
 * one. The API takes the keys themselves (no `jwks_uri`), so a file is what the CLI reads.
 */
async function jwksFile(path: string): Promise<{ keys: Record<string, unknown>[] }> {
  const read = await readJsonFile<Record<string, unknown>>(path);
  return Array.isArray(read['keys']) ? (read as { keys: Record<string, unknown>[] }) : { keys: [read] };
}

export function registerOAuthClient(program: Command, ctx: CliContext): void {
  const client = program.command('oauth-client').description("manage the domains' OAuth clients");

  client
    .command('create <domain>')
    .description('register a client; a confidential one’s secret is printed this once')
    .requiredOption('--name <name>', 'what the client is called')
    .option('--public', 'a public client (no secret; authenticates with none)')
    .option(
      '--auth-method <method>',
      'client_secret_basic (default), client_secret_post, private_key_jwt (with --jwks) or none',
    )
    .option(
      '--jwks <file>',
      'a JSON file of the public keys of a private_key_jwt client (a JWK Set or one JWK)',
    )
    .option('--redirect-uri <uri>', 'an exact redirect URI (repeat for several)', many)
    .option('--grant <grant>', 'authorization_code, refresh_token or client_credentials (repeat)', many)
    .option('--scope <scope>', 'an allowed scope (repeat; default openid)', many)
    .option('--origin <origin>', 'a browser origin allowed to call the token endpoint (repeat)', many)
    .option(
      '--post-logout-redirect-uri <uri>',
      'an exact address end-session may return to (repeat for several)',
      many,
    )
    .option('--json', 'print JSON')
    .action(
      (
        ref: string,
        opts: {
          name: string;
          public?: boolean;
          authMethod?: string;
          redirectUri?: string[];
          grant?: string[];
          scope?: string[];
          origin?: string[];
          jwks?: string;
          postLogoutRedirectUri?: string[];
          json?: boolean;
        },
      ) =>
        ctx.withControlPlane(async (cp) => {
          const input = {
            name: opts.name,
            kind: opts.public === true ? 'public' : 'confidential',
            tokenEndpointAuthMethod: opts.authMethod,
            redirectUris: opts.redirectUri ?? [],
            grantTypes: opts.grant ?? ['authorization_code', 'refresh_token'],
            scopes: opts.scope,
            allowedOrigins: opts.origin,
            postLogoutRedirectUris: opts.postLogoutRedirectUri,
            jwks: opts.jwks === undefined ? undefined : await jwksFile(opts.jwks),
          } as NewClientInput;
          const created = await cp.createOAuthClient(await resolveDomain(cp, ref), input);
          if (opts.json === true) return printJson(ctx.io, created);
          ctx.io.out(`client id: ${created.clientId}`);
          if (created.clientSecret !== undefined)
            ctx.io.out(`client secret (shown once): ${created.clientSecret}`);
        }),
    );

  client
    .command('list <domain>')
    .description("list a domain's OAuth clients")
    .option('--json', 'print JSON')
    .action((ref: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        printMany(ctx.io, await cp.listOAuthClients(await resolveDomain(cp, ref)), columns, opts.json);
      }),
    );

  client
    .command('delete <domain> <id>')
    .description('delete a client (ocl_…): it authenticates nowhere from the next request on')
    .action((ref: string, id: string) =>
      ctx.withControlPlane(async (cp) => {
        await cp.deleteOAuthClient(await resolveDomain(cp, ref), id);
        ctx.io.out(`deleted ${id}`);
      }),
    );
}
