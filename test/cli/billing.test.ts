// `bulkhead billing …` and `bulkhead invoice …` as an operator runs them: the built binary against a real
// server on a PostgreSQL store, and straight on the store. The price book from a file, a domain's billing
// details, a period closed, usage per day, invoices listed and shown, the PDF written to a file showing
// its own domain only, paid and refused a void; another domain's invoice id gets what an unknown id gets.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/backends.js';
import {
  assertBuilt,
  killAll,
  runCli,
  startServer,
  tempDir,
  type CliResult,
  type Server,
} from '../helpers/processes.js';

const token = 'cli-billing-operator-token-0123456789abcdef';

function json<T>(result: CliResult): T {
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout) as T;
}

async function pdfText(bytes: Buffer): Promise<string> {
  const doc = await getDocument({ data: new Uint8Array(bytes), verbosity: 0, isEvalSupported: false })
    .promise;
  const parts: string[] = [];
  for (let page = 1; page <= doc.numPages; page++)
    for (const item of (await (await doc.getPage(page)).getTextContent()).items)
      if ('str' in item) parts.push(item.str);
  await doc.destroy();
  return parts.join('\n');
}

const now = new Date();
const billedAt = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 10, 12));
const period = billedAt.toISOString().slice(0, 7);

describe('bulkhead billing and invoice', { timeout: 300_000 }, () => {
  let database: { url: string; drop(): Promise<void> };
  let dir: { path: string; remove(): void };
  let env: Record<string, string>;
  let server: Server;
  const ids: Record<string, string> = {};
  const op = (...args: string[]) => runCli(args, { env: { ...env, BULKHEAD_URL: server.url } });

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase();
    dir = tempDir('bulkhead-cli-billing-');
    env = {
      BULKHEAD_DATABASE_URL: database.url,
      BULKHEAD_SECRET: 'c4'.repeat(32),
      BULKHEAD_STORAGE_DIR: join(dir.path, 'storage'),
      BULKHEAD_VOLUME_DIR: join(dir.path, 'volumes'),
      BULKHEAD_OPERATOR_TOKEN: token,
      BULKHEAD_BILLING_PLATFORM_NAME: 'Example Hosting AG',
    };
    for (const slug of ['bill-alpha', 'bill-beta'])
      ids[slug] = json<{ id: string }>(await runCli(['domain', 'create', slug, '--json'], { env })).id;
    server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env });
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await database.drop();
    dir.remove();
  });

  it('sets the price book and details, closes a period, and handles the invoices', async () => {
    const book = join(dir.path, 'prices.json');
    writeFileSync(
      book,
      JSON.stringify({
        currency: 'EUR',
        meters: [
          { meter: 'alpha.calls', unit: 'call', unitPrice: 5 },
          { meter: 'beta.secret', unit: 'secret', unitPrice: 900 },
        ],
      }),
    );
    expect(
      json<{ currency: string }>(await op('billing', 'prices', 'set', '--file', book, '--json')).currency,
    ).toBe('EUR');
    const prices = await op('billing', 'prices', 'get');
    expect(prices.stdout).toContain('alpha.calls');
    const details = json<{ name: string; addressLines: string[] }>(
      await op(
        'billing',
        'details',
        'set',
        'bill-alpha',
        '--name',
        'Alpha Trading Ltd',
        '--address',
        '12 Quay Road',
        '--address',
        'Unit 4',
        '--city',
        'Cork',
        '--postal-code',
        'T12 AB34',
        '--country',
        'IE',
        '--email',
        'ap@alpha.example',
        '--json',
      ),
    );
    expect(details).toMatchObject({ name: 'Alpha Trading Ltd', addressLines: ['12 Quay Road', 'Unit 4'] });
    const bad = await op(
      'billing',
      'details',
      'set',
      'bill-beta',
      '--name',
      'Beta',
      '--address',
      'x',
      '--city',
      'y',
      '--postal-code',
      '1',
      '--country',
      'QQ',
      '--email',
      'b@beta.example',
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('country');
    expect(
      json<{ name: string }>(await op('billing', 'details', 'get', ids['bill-alpha']!, '--json')).name,
    ).toBe('Alpha Trading Ltd');

    for (const [slug, meter, quantity] of [
      ['bill-alpha', 'alpha.calls', 40],
      ['bill-beta', 'beta.secret', 3],
    ] as const) {
      const res = await fetch(`${server.url}/v1/domains/${ids[slug]}/usage`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ meter, quantity, eventId: `${slug}-1`, at: billedAt.toISOString() }),
      });
      expect(res.status).toBe(201);
    }
    const usage = json<{ day: string; meter: string; quantity: number }[]>(
      await op(
        'billing',
        'usage',
        'bill-alpha',
        '--from',
        `${period}-01T00:00:00Z`,
        '--to',
        now.toISOString(),
        '--json',
      ),
    );
    expect(usage).toEqual([{ day: billedAt.toISOString().slice(0, 10), meter: 'alpha.calls', quantity: 40 }]);
    expect(
      json<{ created: number }>(await op('billing', 'close', period, '--json')).created,
    ).toBeGreaterThanOrEqual(2);
    expect(
      json<{ created: number; existing: number }>(await op('billing', 'close', period, '--json')).created,
    ).toBe(0);

    const [alphaInvoice] = json<{ id: string; total: number; status: string }[]>(
      await op('invoice', 'list', 'bill-alpha', '--json'),
    );
    expect(alphaInvoice).toMatchObject({ total: 200, status: 'open' });
    const [betaInvoice] = json<{ id: string }[]>(await op('invoice', 'list', 'bill-beta', '--json'));
    const shown = json<{ lines: { meter: string; amount: number }[] }>(
      await op('invoice', 'show', 'bill-alpha', alphaInvoice!.id, '--json'),
    );
    expect(shown.lines).toEqual([expect.objectContaining({ meter: 'alpha.calls', amount: 200 })]);
    // Straight on the store, the same list.
    const direct = json<{ id: string }[]>(await runCli(['invoice', 'list', 'bill-alpha', '--json'], { env }));
    expect(direct.map((i) => i.id)).toEqual([alphaInvoice!.id]);

    const file = join(dir.path, 'alpha.pdf');
    expect((await op('invoice', 'pdf', 'bill-alpha', alphaInvoice!.id, '--out', file)).code).toBe(0);
    const text = await pdfText(readFileSync(file));
    for (const expected of [
      'Example Hosting AG',
      'Alpha Trading Ltd',
      '12 Quay Road',
      'T12 AB34 Cork',
      'alpha.calls',
      '2.00 EUR',
    ])
      expect(text).toContain(expected);
    for (const foreign of ['beta', 'Beta', ids['bill-beta']!, '27.00']) expect(text).not.toContain(foreign);

    // Beta's invoice named under alpha: exactly what an unknown invoice id gets.
    const foreign = await op(
      'invoice',
      'pdf',
      'bill-alpha',
      betaInvoice!.id,
      '--out',
      join(dir.path, 'x.pdf'),
    );
    const unknown = await op(
      'invoice',
      'pdf',
      'bill-alpha',
      'inv_00000000000000000000000000',
      '--out',
      join(dir.path, 'y.pdf'),
    );
    expect(foreign.code).toBe(1);
    expect(foreign.stderr.replace(betaInvoice!.id, 'ID')).toBe(
      unknown.stderr.replace('inv_00000000000000000000000000', 'ID'),
    );

    const paid = json<{ status: string; paymentReference: string }>(
      await op('invoice', 'pay', 'bill-alpha', alphaInvoice!.id, '--reference', 'SEPA-0042', '--json'),
    );
    expect(paid).toMatchObject({ status: 'paid', paymentReference: 'SEPA-0042' });
    const voided = await op('invoice', 'void', 'bill-alpha', alphaInvoice!.id);
    expect(voided.code).toBe(1);
    expect(voided.stderr).toContain('paid');
    expect(
      json<{ status: string }>(await op('invoice', 'void', 'bill-beta', betaInvoice!.id, '--json')).status,
    ).toBe('void');
  });
});
