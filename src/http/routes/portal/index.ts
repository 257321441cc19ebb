// The white-label portal (docs/portal.md): server-rendered pages for a domain's people, at the hosts
// the operator gave the domain. One encapsulated plugin: its hooks (the host → site lookup, the security
// headers), its form parser and its error pages stay inside it; the API's routes are untouched. Its routes
// declare no API access: who is signed in comes from the portal's own cookie, bound to its host
// (context.ts), never from the API's credentials.
import formbody from '@fastify/formbody';
import { consoleHostOf } from '../../../domain/hosts.js';
import { PortalRenderer } from '../../../portal/render.js';
import { toBulkheadError } from '../../problem.js';
import type { FeaturePlugin } from '../../types.js';
import { assetRoutes } from './assets.js';
import { renderPage, resolveSite, sendHtml, type PortalDeps } from './context.js';
import { memberRoutes } from './members.js';
import { consolePage, consoleRoutes } from './console.js';
import { pageRoutes } from './pages.js';
import { recordRoutes } from './records.js';
import { resourceRoutes } from './resources.js';
import { signInRoutes } from './sign-in.js';

const headings: Record<number, [string, string]> = {
  400: ['That did not work', 'The request was not valid.'],
  403: ['Refused', 'This form did not come from a page of this portal. Open the page again and retry.'],
  404: ['Not found', 'There is nothing here, or it is not yours to see.'],
  413: ['Too large', 'What was sent is too large.'],
  429: ['Slow down', 'Too many requests. Try again in a moment.'],
};

export const portalPlugin: FeaturePlugin = (app, { services }, done) => {
  const deps: PortalDeps = {
    services,
    renderer: new PortalRenderer(),
    consoleHost: consoleHostOf(services.issuers.publicUrl),
  };
  app.decorateRequest('portalSite', null);
  app.decorateRequest('portalNonce', '');
  app.decorateRequest('portalConsole', false);
  app.decorateRequest('portalSessionRead', null);
  void app.register(formbody, { bodyLimit: 8 * 1024 });
  app.addHook('onRequest', (request, reply) => resolveSite(deps, request, reply));
  app.setErrorHandler((error, request, reply) => {
    const problem = toBulkheadError(error as Error);
    if (problem.status >= 500) request.log.error({ err: error }, 'portal request failed');
    const [heading, detail] =
      headings[problem.status] ??
      (problem.status >= 500
        ? ['Something went wrong', 'The page could not be shown. Try again later.']
        : ['That did not work', 'The request was not valid.']);
    if (request.portalConsole)
      return consolePage(deps, request, reply, 'problem', {
        title: heading,
        signedIn: false,
        csrf: '',
        status: problem.status,
        data: { heading, detail, home: '/console' },
      });
    if (request.portalSite === null) return sendHtml(reply, problem.status, deps.renderer.bare());
    return renderPage(deps, request, reply, 'problem', {
      title: heading,
      person: null,
      csrf: '',
      status: problem.status,
      data: { heading, detail },
    });
  });
  signInRoutes(app, deps);
  pageRoutes(app, deps);
  resourceRoutes(app, deps);
  memberRoutes(app, deps);
  recordRoutes(app, deps);
  consoleRoutes(app, deps);
  assetRoutes(app, deps);
  done();
};
