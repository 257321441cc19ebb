import type { Command } from 'commander';
import { printJson, printMany, resolveDomain, type CliContext } from '../context.js';

const columns = ['kid', 'state', 'createdAt', 'activatedAt', 'retiredAt', 'publishUntil'];

export function registerSigningKey(program: Command, ctx: CliContext): void {
  const signingKey = program.command('signing-key').description("manage the domains' token-signing keys");

  signingKey
    .command('list <domain>')
    .description("list a domain's signing keys (current, next, retired)")
    .option('--json', 'print JSON')
    .action((ref: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const items = await cp.listSigningKeys(await resolveDomain(cp, ref));
        printMany(ctx.io, items, columns, opts.json);
      }),
    );

  signingKey
    .command('rotate')
    .description('start signing with the next key; the old one stays published until its tokens expire')
    .option('--domain <domain>', 'only this domain (id or slug); default: every active domain')
    .option('--json', 'print JSON')
    .action((opts: { domain?: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const ids: string[] = [];
        if (opts.domain !== undefined) ids.push(await resolveDomain(cp, opts.domain));
        else {
          for (let after: string | undefined; ;) {
            const page = await cp.listDomains({ status: 'active', limit: 500, after });
            ids.push(...page.map((d) => d.id));
            if (page.length < 500) break;
            after = page.at(-1)!.id;
          }
        }
        const results = [];
        for (const id of ids) {
          const keys = await cp.rotateSigningKey(id);
          results.push({ domainId: id, keys });
          if (opts.json !== true) {
            const current = keys.find((k) => k.state === 'current');
            ctx.io.out(`${id}: now signing with ${current?.kid ?? '-'}`);
          }
        }
        if (opts.json === true) printJson(ctx.io, results);
      }),
    );
}
