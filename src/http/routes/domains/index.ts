// Domains: created, read, listed, suspended, resumed and deleted by the operator.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { createDomain } from './create-domain.js';
import { deleteDomain } from './delete-domain.js';
import { getDomain } from './get-domain.js';
import { listDomains } from './list-domains.js';
import { resumeDomain } from './resume-domain.js';
import { suspendDomain } from './suspend-domain.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [
  createDomain,
  listDomains,
  getDomain,
  suspendDomain,
  resumeDomain,
  deleteDomain,
];

export const domainsPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
