// Billing: usage, the price book, closing periods and invoices (docs/billing.md).
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { detailsRoutes } from './details.js';
import { invoiceRoutes } from './invoices.js';
import { periodRoutes } from './periods.js';
import { priceRoutes } from './prices.js';
import { usageRoutes } from './usage.js';

/** The routes of this feature, in the order they are registered, tagged `billing` in the OpenAPI document. */
export const billingPlugin = feature('billing', [
  usageRoutes,
  priceRoutes,
  periodRoutes,
  invoiceRoutes,
  detailsRoutes,
]);
