// The answer check must be able to fail: an app that answers a status, a header, a media type or a body
// its document does not declare is reported, each breach by name, and an answer it does declare is not.
// The real app is bent with an extra app hook, so the check is shown on the document the server serves.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appHooks } from '../../src/http/app-hooks.js';
import type { App } from '../../src/http/types.js';
import { openTestApi, type TestApi } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { answerCheck, settleAnswers } from '../helpers/contract.js';

/** What a test asks of the next answers: a status, an extra header, another body or media type. */
interface Bend {
  status?: number;
  header?: [string, string];
  body?: string;
  type?: string;
}

describe('the check of every answer against the document', () => {
  const found = new Set<string>();
  let bend: Bend = {};
  let api: TestApi;

  // Runs before the check's own onSend: whatever it changes is what the check sees go out.
  const bender = (app: App) => {
    app.addHook('onSend', async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (bend.status !== undefined) reply.code(bend.status);
      if (bend.header !== undefined) reply.header(...bend.header);
      if (bend.type !== undefined) reply.type(bend.type);
      return bend.body ?? payload;
    });
  };
  const check = answerCheck(found);

  beforeAll(async () => {
    appHooks.add(bender);
    appHooks.add(check);
    api = await openTestApi(backends[0]!);
  });

  afterAll(async () => {
    appHooks.delete(bender);
    appHooks.delete(check);
    await api?.close();
  });

  async function answers(next: Bend): Promise<string[]> {
    bend = next;
    found.clear();
    const res = await api.call('GET', '/healthz');
    bend = {};
    expect(res.statusCode).toBe(next.status ?? 200);
    settleAnswers();
    return [...found];
  }

  it('finds nothing in an answer the document declares', async () => {
    expect(await answers({})).toEqual([]);
  });

  it('reports a status the operation does not declare', async () => {
    expect(await answers({ status: 202 })).toEqual(['GET /healthz → 202: the status is not declared']);
  });

  it('reports a header the answer does not declare', async () => {
    expect(await answers({ header: ['x-undeclared', 'yes'] })).toEqual([
      'GET /healthz → 200: the header x-undeclared is not declared',
    ]);
  });

  it('reports a media type the answer does not declare', async () => {
    expect(await answers({ type: 'text/plain', body: 'ok' })).toEqual([
      'GET /healthz → 200: the media type text/plain is not declared',
    ]);
  });

  it('reports a body that does not match the declared schema', async () => {
    expect(await answers({ body: JSON.stringify({ status: 7 }) })).toEqual([
      'GET /healthz → 200: the body does not match (/status must be string)',
    ]);
  });

  it('reports a declared JSON answer whose body is not JSON', async () => {
    expect(await answers({ body: '{"status":' })).toEqual(['GET /healthz → 200: the body is not JSON']);
  });

  it('checks the answers of errors too: a problem must be one', async () => {
    bend = { body: JSON.stringify({ nothing: 'of a problem' }) };
    found.clear();
    const res = await api.call('GET', '/v1/domains', { token: null });
    bend = {};
    expect(res.statusCode).toBe(401);
    settleAnswers();
    expect([...found]).toHaveLength(1);
    expect([...found][0]).toMatch(/^GET \/v1\/domains → 401: the body does not match/);
  });
});
