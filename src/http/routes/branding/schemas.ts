// The portal settings' shape in requests and responses: the allow-list of what leaves the server about a
// domain's portal (the logo's bytes never do here: the portal serves them).
import { Type } from '@sinclair/typebox';
import { Nullable } from '../../schemas.js';

export const PortalSettings = Type.Object(
  {
    domainId: Type.String(),
    hosts: Type.Array(Type.String(), { description: 'In normal form: IDNA, lowercase, no trailing dot.' }),
    branding: Nullable(
      Type.Object(
        {
          displayName: Type.String(),
          primaryColor: Type.String(),
          accentColor: Type.String(),
          supportEmail: Nullable(Type.String()),
          supportUrl: Nullable(Type.String()),
          logo: Nullable(
            Type.Object({ type: Type.String(), sha256: Type.String() }, { additionalProperties: false }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const PortalSettingsBody = Type.Object(
  {
    hosts: Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { maxItems: 10 }),
    displayName: Type.String({ minLength: 1, maxLength: 100 }),
    primaryColor: Type.Optional(Type.String({ pattern: '^#[0-9a-fA-F]{6}$' })),
    accentColor: Type.Optional(Type.String({ pattern: '^#[0-9a-fA-F]{6}$' })),
    supportEmail: Type.Optional(Nullable(Type.String({ minLength: 3, maxLength: 254 }))),
    supportUrl: Type.Optional(Nullable(Type.String({ minLength: 9, maxLength: 500 }))),
  },
  { additionalProperties: false },
);
