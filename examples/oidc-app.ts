// An example web app that signs people in with a Bulkhead domain's OpenID Provider: the authorization
// code flow with PKCE through openid-client, from nothing but the issuer URL. Register it first as a client
// of the domain (docs/identity.md, "Authorization code flow"), with its callback as redirect URI:
//
//   bulkhead oauth-client create acme --name example --redirect-uri http://127.0.0.1:3000/callback \
//     --post-logout-redirect-uri http://127.0.0.1:3000/callback
//   ISSUER=https://id.example.com/d/acme CLIENT_ID=bho_… CLIENT_SECRET=bhs_… npx tsx examples/oidc-app.ts
//
// Then open http://127.0.0.1:3000/ : "Sign in" goes to the domain's sign-in page and back with a code; the
// app exchanges it, checks the ID token (issuer, audience, nonce), and shows who signed in. "Sign out"
// ends the session at the issuer (RP-initiated logout).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as client from 'openid-client';

/** What the app keeps between the redirect out and the callback, by a random cookie value. */
interface Pending {
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
}

export async function oidcApp(o: {
  issuer: string;
  clientId: string;
  clientSecret: string;
  appUrl: string;
  insecure?: boolean;
}) {
  const config = await client.discovery(
    new URL(o.issuer),
    o.clientId,
    { client_secret: o.clientSecret },
    client.ClientSecretBasic(o.clientSecret),
    o.insecure === true ? { execute: [client.allowInsecureRequests] } : undefined,
  );
  const redirectUri = `${o.appUrl}/callback`;
  const pending = new Map<string, Pending>();
  const signedIn = new Map<string, { sub: string; email?: string; idToken: string }>();
  const cookieOf = (req: IncomingMessage) =>
    /(?:^|; )app=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '')?.[1];
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  return createServer((req, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', o.appUrl);
      const id = cookieOf(req);
      if (url.pathname === '/login') {
        const key = randomBytes(32).toString('base64url');
        const p = {
          verifier: client.randomPKCECodeVerifier(),
          state: client.randomState(),
          nonce: client.randomNonce(),
        };
        pending.set(key, p);
        const to = client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(p.verifier),
          code_challenge_method: 'S256',
          state: p.state,
          nonce: p.nonce,
        });
        res.writeHead(303, { location: to.href, 'set-cookie': `app=${key}; Path=/; HttpOnly; SameSite=Lax` });
        return res.end();
      }
      if (url.pathname === '/callback') {
        const p = id === undefined ? undefined : pending.get(id);
        if (id === undefined || p === undefined)
          return res.writeHead(400).end('No sign-in was started here.');
        pending.delete(id);
        const tokens = await client.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: p.verifier,
          expectedState: p.state,
          expectedNonce: p.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims()!;
        const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        signedIn.set(id, {
          sub: claims.sub,
          ...(typeof info.email === 'string' ? { email: info.email } : {}),
          idToken: tokens.id_token!,
        });
        res.writeHead(303, { location: '/' });
        return res.end();
      }
      const who = id === undefined ? undefined : signedIn.get(id);
      if (url.pathname === '/logout' && who !== undefined && id !== undefined) {
        signedIn.delete(id);
        const to = client.buildEndSessionUrl(config, {
          id_token_hint: who.idToken,
          post_logout_redirect_uri: redirectUri,
        });
        res.writeHead(303, { location: to.href });
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        who === undefined
          ? '<p>Nobody is signed in. <a href="/login">Sign in</a></p>'
          : `<p>Signed in as ${escape(who.email ?? who.sub)}. <a href="/logout">Sign out</a></p>`,
      );
    })().catch((error: unknown) => {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`Sign-in failed: ${String(error)}`);
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = (name: string) => {
    const value = process.env[name];
    if (value === undefined) throw new Error(`${name} is not set`);
    return value;
  };
  const appUrl = process.env['APP_URL'] ?? 'http://127.0.0.1:3000';
  const server = await oidcApp({
    issuer: env('ISSUER'),
    clientId: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET'),
    appUrl,
    insecure: env('ISSUER').startsWith('http:'),
  });
  server.listen(Number(new URL(appUrl).port || 3000), new URL(appUrl).hostname);
  console.log(`${appUrl}/ signs in at ${env('ISSUER')}`);
}
