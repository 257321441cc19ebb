// What a domain's discovery documents say (RFC 8414 and OpenID Connect Discovery 1.0): exactly what its
// endpoints do today, nothing more, so a client that reads them never tries a grant, an authentication
// method or a response type that would be refused. The endpoints are the issuer's own (`<issuer>/token`
// …), so a client of one domain never talks to another's endpoints through a shared URL.

/** The grants a domain's token endpoint takes. */
export const grantTypesSupported = ['client_credentials', 'refresh_token'] as const;

/** How a client authenticates at the token, revocation and introspection endpoints. */
export const clientAuthMethodsSupported = ['client_secret_basic', 'client_secret_post'] as const;

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
    // No authorization endpoint yet: no response type is supported.
    response_types_supported: [],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: [...clientAuthMethodsSupported],
    revocation_endpoint_auth_methods_supported: [...clientAuthMethodsSupported],
    introspection_endpoint_auth_methods_supported: [...clientAuthMethodsSupported],
  };
}
