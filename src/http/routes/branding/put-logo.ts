// The logo arrives as the raw body with its image type; its first bytes decide, not the header. SVG is
// refused with its own media type, since an SVG file can carry script.
import { BulkheadError } from '../../../errors.js';
import { operatorOnly } from '../../../policy/policy.js';
import { maxLogoBytes } from '../../../services/portal.js';
import { bearer, DomainParams, errorResponses } from '../../schemas.js';
import type { App, RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { PortalSettings } from './schemas.js';

const imageTypes = ['image/png', 'image/jpeg', 'image/webp'];

export const putLogo: RouteModule = (app, { portal }) => {
  void app.register((scope: App, _opts, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(imageTypes, { parseAs: 'buffer', bodyLimit: maxLogoBytes }, (_r, body, next) =>
      next(null, body),
    );
    // Any other type is refused by the handler, after the policy: a tenant's credential learns nothing more.
    scope.addContentTypeParser('*', (_request, _payload, next) => next(null, undefined));
    scope.put(
      '/v1/domains/:domainId/portal/logo',
      {
        config: { access: operatorOnly },
        bodyLimit: maxLogoBytes,
        schema: {
          operationId: 'putPortalLogo',
          tags: ['portal'],
          summary: "Upload a domain's portal logo",
          description:
            'The body is the image itself, `image/png`, `image/jpeg` or `image/webp`, at most 256 KiB (413 ' +
            '`body_too_large`). Its first bytes must say the same family of format (400 `invalid_image`); SVG and ' +
            'any other type are 415 `unsupported_media_type`. The portal serves it at `/portal-assets/logo`.',
          security: bearer,
          params: DomainParams,
          consumes: imageTypes,
          response: { 200: PortalSettings, ...errorResponses },
        },
      },
      async (request) => {
        const body = request.body;
        if (!Buffer.isBuffer(body))
          throw new BulkheadError(
            'unsupported_media_type',
            `A logo is sent as image/png, image/jpeg or image/webp, not ${String(request.headers['content-type'] ?? 'nothing')}.`,
          );
        return portal.setLogo(actorOf(request), scopeOf(request), body);
      },
    );
    done();
  });
};
