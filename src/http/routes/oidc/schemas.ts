import { Type } from '@sinclair/typebox';

/** A domain's issuer path names it by slug: `/d/<slug>`. */
export const IssuerParams = Type.Object(
  { slug: Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9-]{1,63}$' }) },
  { additionalProperties: false },
);

export const ProviderMetadata = Type.Object({
  issuer: Type.String(),
  jwks_uri: Type.String(),
  token_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  subject_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  authorization_endpoint: Type.String(),
  userinfo_endpoint: Type.String(),
  end_session_endpoint: Type.String(),
  scopes_supported: Type.Array(Type.String()),
  response_modes_supported: Type.Array(Type.String()),
  code_challenge_methods_supported: Type.Array(Type.String()),
  id_token_signing_alg_values_supported: Type.Array(Type.String()),
  claims_supported: Type.Array(Type.String()),
  authorization_response_iss_parameter_supported: Type.Boolean(),
  token_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
});

/** The parameters the client authentication reads from a form (client_secret_post). */
const clientFields = {
  client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  client_assertion: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })),
  client_assertion_type: Type.Optional(Type.String({ maxLength: 200 })),
};

// RFC 6749 §3.2: parameters the server does not know are ignored, so none of these refuses extra fields.
export const TokenRequest = Type.Object(
  {
    grant_type: Type.String({ maxLength: 64 }),
    refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    redirect_uri: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    code_verifier: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scope: Type.Optional(Type.String({ maxLength: 200 })),
    ...clientFields,
  },
  { additionalProperties: true },
);

export const TokenPresented = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 8192 }),
    token_type_hint: Type.Optional(Type.String({ maxLength: 40 })),
    ...clientFields,
  },
  { additionalProperties: true },
);

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.Optional(Type.String()),
  id_token: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
});

export const Introspection = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  jti: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  dom: Type.Optional(Type.String()),
});
