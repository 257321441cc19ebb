// The few pages a domain's OpenID Provider shows a browser: its sign-in form, a refusal that must not
// go back to the client (an unknown client or a redirect URI not registered), and the signed-out page.
// Server-rendered, every value escaped, styled by the domain's portal branding when it has one, under a
// CSP whose only inline style carries this response's nonce. The form may post to this issuer only, and
// the browser may then follow the answer to the client's registered redirect URI (form-action).
import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';

export interface Branding {
  readonly displayName: string;
  readonly primaryColor: string;
}

const escapes: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => escapes[c]!);
const colorShape = /^#[0-9a-fA-F]{6}$/;

function page(
  reply: FastifyReply,
  status: number,
  branding: Branding,
  title: string,
  body: string,
  formTo?: string,
) {
  const nonce = randomBytes(16).toString('base64');
  const color = colorShape.test(branding.primaryColor) ? branding.primaryColor : '#1f4f8f';
  reply.header(
    'content-security-policy',
    `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'${formTo === undefined ? '' : ` ${formTo}`}; ` +
      "frame-ancestors 'none'; base-uri 'none'",
  );
  reply.header('cache-control', 'no-store');
  // same-origin, not no-referrer: with no-referrer the browser posts the form with `Origin: null`.
  reply.header('referrer-policy', 'same-origin');
  reply.header('x-frame-options', 'DENY');
  reply.header('x-content-type-options', 'nosniff');
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
        `<title>${escapeHtml(title)} · ${escapeHtml(branding.displayName)}</title>` +
        `<style nonce="${nonce}">body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}` +
        `h1{color:${color}}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem}` +
        `button{margin-top:1rem;padding:.5rem 1rem;background:${color};color:#fff;border:0}.error{color:#a00}</style>` +
        `</head><body><main><p>${escapeHtml(branding.displayName)}</p><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`,
    );
}

/** The sign-in form; `request` is the authorization request it continues (its query string). */
export function signInForm(
  reply: FastifyReply,
  o: {
    branding: Branding;
    action: string;
    request: string;
    csrf: string;
    email: string;
    message: string | null;
    status: number;
    redirectOrigin: string;
  },
) {
  return page(
    reply,
    o.status,
    o.branding,
    'Sign in',
    (o.message === null ? '' : `<p class="error" role="alert">${escapeHtml(o.message)}</p>`) +
      `<form method="post" action="${escapeHtml(o.action)}">` +
      `<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">` +
      `<input type="hidden" name="request" value="${escapeHtml(o.request)}">` +
      `<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(o.email)}">` +
      `<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>` +
      `<button type="submit">Sign in</button></form>`,
    o.redirectOrigin,
  );
}

/** A refusal shown to the person, never sent to a redirect URI that could not be trusted. */
export function refusalPage(reply: FastifyReply, branding: Branding, error: string, description: string) {
  return page(
    reply,
    400,
    branding,
    'This sign-in cannot continue',
    `<p>${escapeHtml(description)}</p><p><code>${escapeHtml(error)}</code></p>`,
  );
}

export function signedOutPage(reply: FastifyReply, branding: Branding) {
  return page(reply, 200, branding, 'Signed out', '<p>You are signed out.</p>');
}
