import { InvalidArgumentError, type Command } from 'commander';
import { defaultScopeKinds, scopeActions, scopeKinds, validScopes, type Scope } from '../../policy/scopes.js';
import { maxRotationOverlapSeconds } from '../../keys/rotation.js';
import { printJson, printMany, resolveDomain, wholeNumber, type CliContext } from '../context.js';

const columns = ['id', 'prefix', 'name', 'scopes', 'createdAt', 'lastUsedAt', 'expiresAt', 'revokedAt'];

function parseScopes(value: string): Scope[] {
  const scopes = value.split(',').map((s) => s.trim());
  for (const s of scopes) {
    if (!(validScopes as readonly string[]).includes(s)) {
      throw new InvalidArgumentError(
        `unknown scope "${s}" (a kind, one of ${scopeKinds.join(', ')}, or kind:action with action one of ${scopeActions.join(', ')})`,
      );
    }
  }
  return scopes as Scope[];
}

export function registerKey(program: Command, ctx: CliContext): void {
  const key = program.command('key').description('issue and manage provisioning keys');

  key
    .command('issue <domain>')
    .description('issue a provisioning key; the secret is printed this once')
    .option('--name <name>', 'a label for the key')
    .option(
      '--scopes <scopes>',
      `comma-separated kinds (every action) or kind:action, e.g. postgres:read,volumes (default: all of ${defaultScopeKinds.join(',')}; usage and invoices only by name)`,
      parseScopes,
    )
    .option('--expires-at <time>', 'ISO 8601 time after which the key is refused')
    .option('--json', 'print JSON')
    .action((ref: string, opts: { name?: string; scopes?: Scope[]; expiresAt?: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const expiresAt = opts.expiresAt === undefined ? undefined : new Date(opts.expiresAt);
        if (expiresAt !== undefined && Number.isNaN(expiresAt.getTime())) {
          throw new InvalidArgumentError('--expires-at is not a valid time');
        }
        const issued = await cp.issueKey(await resolveDomain(cp, ref), {
          name: opts.name,
          scopes: opts.scopes,
          expiresAt,
        });
        if (opts.json === true) return printJson(ctx.io, issued);
        ctx.io.out(`key ${issued.id} for ${issued.domainId} (scopes ${issued.scopes.join(',')})`);
        ctx.io.out(`secret (shown once, store it now): ${issued.key}`);
      }),
    );

  key
    .command('list <domain>')
    .description("list a domain's keys (never the secrets)")
    .option('--json', 'print JSON')
    .action((ref: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const items = await cp.listKeys(await resolveDomain(cp, ref));
        printMany(ctx.io, items, columns, opts.json);
      }),
    );

  key
    .command('revoke <domain> <keyId>')
    .description('revoke a key; it is refused from the next request on')
    .option('--json', 'print JSON')
    .action((ref: string, keyId: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const revoked = await cp.revokeKey(await resolveDomain(cp, ref), keyId);
        if (opts.json === true) printJson(ctx.io, revoked);
        else ctx.io.out(`revoked ${revoked.id} at ${revoked.revokedAt ?? '-'}`);
      }),
    );

  key
    .command('rotate <domain> <keyId>')
    .description('issue a successor; the old key stays valid for the overlap, then expires')
    .option(
      '--overlap <seconds>',
      'how long the old key keeps working',
      wholeNumber(0, maxRotationOverlapSeconds),
      86_400,
    )
    .option('--json', 'print JSON')
    .action((ref: string, keyId: string, opts: { overlap: number; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const result = await cp.rotateKey(await resolveDomain(cp, ref), keyId, opts.overlap);
        if (opts.json === true) return printJson(ctx.io, result);
        ctx.io.out(
          `key ${result.key.id} replaces ${result.previous.id}, which expires at ${result.previous.expiresAt ?? '-'}`,
        );
        ctx.io.out(`secret (shown once, store it now): ${result.key.key}`);
      }),
    );
}
