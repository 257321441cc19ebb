// Domains: created, read, listed, suspended, resumed and deleted by the operator.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { createDomain } from './create-domain.js';
import { deleteDomain } from './delete-domain.js';
import { getDomain } from './get-domain.js';
import { listDomains } from './list-domains.js';
import { resumeDomain } from './resume-domain.js';
import { suspendDomain } from './suspend-domain.js';

/** The routes of this feature, in the order they are registered, tagged `domains` in the OpenAPI document. */
export const domainsPlugin = feature('domains', [
  createDomain,
  listDomains,
  getDomain,
  suspendDomain,
  resumeDomain,
  deleteDomain,
]);
