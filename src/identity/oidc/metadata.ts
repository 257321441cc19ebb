// What a domain's discovery documents say (RFC 8414 and OpenID Connect Discovery 1.0): exactly what its
// endpoints do today, nothing more, so a client that reads them never tries a grant, an authentication
// method or a response type that would be refused. The endpoints are the issuer's own (`<issuer>/token`
// …), so a client of one domain never talks to another's endpoints through a shared URL.
import { assertionAlgorithms } from './clients.js';

/** The grants a domain's token endpoint takes. */
export const grantTypesSupported = ['authorization_code', 'client_credentials', 'refresh_token'] as const;

/** How a client authenticates at the token, revocation and introspection endpoints. */
export const clientAuthMethodsSupported = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
] as const;

/** The token endpoint also takes public clients (`none`), for the authorization code grant with PKCE. */
export const tokenAuthMethodsSupported = [...clientAuthMethodsSupported, 'none'] as const;

export interface ProviderMetadata {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly token_endpoint: string;
  readonly revocation_endpoint: string;
  readonly introspection_endpoint: string;
  readonly grant_types_supported: string[];
  readonly response_types_supported: string[];
  readonly subject_types_supported: string[];
  readonly token_endpoint_auth_methods_supported: string[];
  readonly revocation_endpoint_auth_methods_supported: string[];
  readonly introspection_endpoint_auth_methods_supported: string[];
  readonly authorization_endpoint: string;
  readonly userinfo_endpoint: string;
  readonly end_session_endpoint: string;
  readonly scopes_supported: string[];
  readonly response_modes_supported: string[];
  readonly code_challenge_methods_supported: string[];
  readonly id_token_signing_alg_values_supported: string[];
  readonly claims_supported: string[];
  readonly authorization_response_iss_parameter_supported: boolean;
  readonly token_endpoint_auth_signing_alg_values_supported: string[];
}

/** The discovery document of the domain whose issuer URL this is. */
export function providerMetadata(issuer: string): ProviderMetadata {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks.json`,
    token_endpoint: `${issuer}/token`,
    revocation_endpoint: `${issuer}/revoke`,
    introspection_endpoint: `${issuer}/introspect`,
    grant_types_supported: [...grantTypesSupported],
    authorization_endpoint: `${issuer}/authorize`,
    userinfo_endpoint: `${issuer}/userinfo`,
    end_session_endpoint: `${issuer}/end-session`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'email'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'sid', 'email'],
    id_token_signing_alg_values_supported: ['EdDSA'],
    authorization_response_iss_parameter_supported: true,
    token_endpoint_auth_signing_alg_values_supported: [...assertionAlgorithms],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: [...tokenAuthMethodsSupported],
    revocation_endpoint_auth_methods_supported: [...clientAuthMethodsSupported],
    introspection_endpoint_auth_methods_supported: [...clientAuthMethodsSupported],
  };
}
