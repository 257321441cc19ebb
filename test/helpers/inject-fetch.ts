// openid-client's fetch (its `customFetch`), answered by the app in this process at the URL's host: the
// back channel of a relying party to an issuer whose host has no DNS name or certificate here. The app
// answers exactly as it does on the network (the same routes, hooks and serializers).
import type * as client from 'openid-client';
import type { App } from '../../src/http/types.js';

export function fetchThrough(app: App): client.CustomFetch {
  return async (url, options) => {
    const target = new URL(url);
    const res = await app.inject({
      method: options.method as 'GET',
      url: `${target.pathname}${target.search}`,
      headers: { ...Object.fromEntries(new Headers(options.headers)), host: target.host },
      // openid-client sends its forms as URLSearchParams.
      ...(options.body instanceof URLSearchParams ? { payload: options.body.toString() } : {}),
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers))
      for (const v of Array.isArray(value) ? value : [value])
        if (v !== undefined) headers.append(name, String(v));
    const empty = res.statusCode === 204 || res.statusCode === 304 || res.rawPayload.length === 0;
    return new Response(empty ? null : new Uint8Array(res.rawPayload), { status: res.statusCode, headers });
  };
}
