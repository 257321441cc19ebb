// A's OAuth artefacts at B's authorization server: what a client of one tenant can try against another
// tenant's issuer when each tenant is an OAuth/OpenID Provider of its own (RFC 6749, 7662, 7009). B's
// introspection must say of A's access token exactly what it says of a token that does not exist; A's
// client must get at B's endpoints what an unknown client gets; A's refresh token must be refused at B's
// token endpoint as an unknown one is; and a revocation sent to B must leave A's tokens alive. Each
// endpoint is one operation of the report, `oauth:<endpoint>`, with one check per attack.
import { randomBytes } from 'node:crypto';
import { comparable, defaultVolatileFields, difference } from './compare.js';
import type { Exchange, Send } from './http.js';
import { coverageOf, type Check, type OperationResult, type Verdict } from './report.js';
import { unknownId } from './samples.js';
import type { OAuthClient, OAuthParty, OAuthSetup } from './target.js';

/** The attack kinds, each reported as `oauth[<kind>]`, with what a leak means. */
export const oauthAttacks = {
  'foreign-token':
    "B's introspection endpoint, asked by B's own client about A's access token, answered otherwise than for a token that does not exist.",
  'foreign-client':
    "A's client, authenticating at B's endpoint, was answered otherwise than a client that does not exist.",
  'foreign-refresh':
    "A's refresh token at B's token endpoint was answered otherwise than a refresh token that does not exist.",
  'foreign-revocation': "A revocation of A's tokens sent to B's endpoint ended them.",
} as const;

export type OAuthAttack = keyof typeof oauthAttacks;

export interface OAuthAttackInput {
  readonly oauth: OAuthSetup;
  readonly send: Send;
  /** Attack kinds left out (`oauth[foreign-token]` …). */
  readonly omit: ReadonlySet<string>;
}

const volatile = new Set(defaultVolatileFields.map((f) => f.toLowerCase().replaceAll('_', '')));

function basic(client: OAuthClient): string {
  const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(client.id)}:${encode(client.secret)}`).toString('base64')}`;
}

function form(path: string, fields: Record<string, string>, client: OAuthClient | null): Parameters<Send>[0] {
  return {
    method: 'POST',
    path,
    headers: client === null ? {} : { authorization: basic(client) },
    body: {
      contentType: 'application/x-www-form-urlencoded',
      raw: new URLSearchParams(fields).toString(),
    },
  };
}

function active(exchange: Exchange): boolean | null {
  if (exchange.status !== 200) return null;
  try {
    const value = (JSON.parse(exchange.text) as { active?: unknown }).active;
    return typeof value === 'boolean' ? value : null;
  } catch {
    return null;
  }
}

/** How two answers differ, or null when they are the same (less what changes on every request). */
function differs(x: Exchange, y: Exchange): string | null {
  return difference(comparable(x, [], volatile), comparable(y, [], volatile));
}

/**
 * Runs the OAuth attacks in an order that keeps A's tokens usable for the checks after them: the
 * introspections and refusals first, the revocations sent to B last, followed by A's own refresh.
 */
export async function attackOAuth(input: OAuthAttackInput): Promise<{
  operations: OperationResult[];
  checks: Check[];
}> {
  const { oauth, omit } = input;
  const { a, b } = oauth;
  // Each party's endpoints at its own Host, when it names one.
  const at =
    (party: OAuthParty): Send =>
    (request) =>
      input.send(
        party.host === undefined
          ? request
          : { ...request, headers: { ...request.headers, host: party.host } },
      );
  const [sendA, sendB] = [at(a), at(b)];
  const checks = new Map<string, Check[]>();
  const notes = new Map<string, string>();
  const operations = new Set<string>();
  const record = (
    operation: string,
    attack: OAuthAttack,
    credential: string,
    expected: string,
    got: string,
    verdict: Verdict,
  ) =>
    checks.set(operation, [
      ...(checks.get(operation) ?? []),
      { operation, operationId: null, attack: `oauth[${attack}]`, credential, expected, got, verdict },
    ]);
  const runs = (attack: OAuthAttack) => !omit.has(`oauth[${attack}]`);
  const unknownClient: OAuthClient = {
    id: unknownId(a.client.id),
    secret: randomBytes(24).toString('base64url'),
  };
  const unknownToken = `verify-${randomBytes(24).toString('base64url')}`;

  const prefix = oauth.name === undefined ? 'oauth:' : `oauth:${oauth.name}:`;
  const introspection = `${prefix}introspection`;
  const token = `${prefix}token`;
  const revocation = `${prefix}revocation`;
  operations.add(introspection).add(token);
  if (b.revocationPath !== undefined) operations.add(revocation);

  // A's own token must be active at A's own introspection, or nothing B says of it proves anything.
  const own = await sendA(form(a.introspectionPath, { token: a.accessToken }, a.client));
  if (active(own) !== true) {
    notes.set(
      introspection,
      `A's client at A's introspection endpoint does not find A's token active (${own.status}), so nothing compares`,
    );
  } else {
    if (runs('foreign-token')) {
      const [foreign, unknown] = await Promise.all([
        sendB(form(b.introspectionPath, { token: a.accessToken }, b.client)),
        sendB(form(b.introspectionPath, { token: unknownToken }, b.client)),
      ]);
      judge(introspection, 'foreign-token', "B's client", foreign, unknown, 'as for an unknown token');
    }
    if (runs('foreign-client')) {
      const [foreign, unknown] = await Promise.all([
        sendB(form(b.introspectionPath, { token: a.accessToken }, a.client)),
        sendB(form(b.introspectionPath, { token: a.accessToken }, unknownClient)),
      ]);
      judge(introspection, 'foreign-client', "A's client", foreign, unknown, 'as for an unknown client');
    }
  }

  // A's client and A's refresh token at B's token endpoint.
  if (runs('foreign-client')) {
    const grant = { grant_type: 'client_credentials' };
    const [foreign, unknown] = await Promise.all([
      sendB(form(b.tokenPath, grant, a.client)),
      sendB(form(b.tokenPath, grant, unknownClient)),
    ]);
    judge(token, 'foreign-client', "A's client", foreign, unknown, 'as for an unknown client');
  }
  let refreshSpent = false;
  if (a.refreshToken === undefined) notes.set(token, 'the target gave no refresh token of A');
  else if (runs('foreign-refresh')) {
    // Presented by B's own client, and by no client: either way as a refresh token that does not exist.
    for (const [credential, client] of [
      ["B's client", b.client],
      ['no client', null],
    ] as const) {
      const foreign = await sendB(
        form(b.tokenPath, { grant_type: 'refresh_token', refresh_token: a.refreshToken }, client),
      );
      const unknown = await sendB(
        form(b.tokenPath, { grant_type: 'refresh_token', refresh_token: unknownToken }, client),
      );
      // A refresh token B's endpoint took is spent, so A's own refresh below proves nothing any more.
      if (foreign.status >= 200 && foreign.status < 300) refreshSpent = true;
      judge(token, 'foreign-refresh', credential, foreign, unknown, 'as for an unknown refresh token');
    }
  }

  // Revocations sent to B: every answer is 200 by RFC 7009, so what counts is that A's tokens live on.
  if (b.revocationPath !== undefined && runs('foreign-revocation')) {
    const revoke = (value: string, client: OAuthClient) =>
      sendB(form(b.revocationPath!, { token: value }, client));
    await revoke(a.accessToken, b.client);
    await revoke(a.accessToken, a.client);
    const after = await sendA(form(a.introspectionPath, { token: a.accessToken }, a.client));
    const expected = "A's access token still active at A's introspection";
    if (active(own) !== true)
      record(revocation, 'foreign-revocation', "B's client", expected, 'not compared', 'inconclusive');
    else
      record(
        revocation,
        'foreign-revocation',
        "B's client",
        expected,
        active(after) === true
          ? 'still active'
          : `ended (introspection: ${after.status} ${after.text.slice(0, 80)})`,
        active(after) === true ? 'pass' : active(after) === false ? 'leak' : 'inconclusive',
      );
    if (a.refreshToken !== undefined) {
      await revoke(a.refreshToken, b.client);
      await revoke(a.refreshToken, a.client);
      // A's refresh token must still refresh at A's own endpoint (this rotates it: it is the last use).
      const refreshed = await sendA(
        form(
          a.tokenPath,
          { grant_type: 'refresh_token', refresh_token: a.refreshToken },
          a.refreshClient === true ? a.client : null,
        ),
      );
      const got = `${refreshed.status}${refreshed.status === 200 ? '' : ` ${refreshed.text.slice(0, 120)}`}`;
      record(
        revocation,
        'foreign-revocation',
        "B's client",
        "A's refresh token still refreshes at A's token endpoint",
        refreshSpent ? `${got}, but B's token endpoint had taken it already` : got,
        refreshed.status === 200
          ? 'pass'
          : refreshed.status === 400 && !refreshSpent
            ? 'leak'
            : 'inconclusive',
      );
    }
  }

  return {
    operations: [...operations].map((operation) => coverage(operation)),
    checks: [...operations].flatMap((operation) => checks.get(operation) ?? []),
  };

  function judge(
    operation: string,
    attack: OAuthAttack,
    credential: string,
    foreign: Exchange,
    unknown: Exchange,
    expected: string,
  ): void {
    if (foreign.status === 0 || unknown.status === 0) {
      record(
        operation,
        attack,
        credential,
        expected,
        (foreign.status === 0 ? foreign : unknown).text,
        'inconclusive',
      );
      return;
    }
    const d = differs(foreign, unknown);
    record(
      operation,
      attack,
      credential,
      `${expected} (${unknown.status})`,
      d === null ? `${foreign.status} = unknown` : `${foreign.status}; unknown: ${unknown.status}; ${d}`,
      d === null ? 'pass' : 'leak',
    );
  }

  function coverage(operation: string): OperationResult {
    return coverageOf(
      operation,
      checks.get(operation) ?? [],
      () => notes.get(operation) ?? 'every attack was inconclusive or left out',
    );
  }
}
