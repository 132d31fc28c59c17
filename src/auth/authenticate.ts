/**
 * authenticate: credentials on a request -> the Principal policy sees, or a 401/503 GatewayError.
 * The pipeline knows only this interface; issuers, introspection, revocation and proof-of-possession
 * live behind it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClaimMapping, Principal } from './principal.js';
import { principalFromClaims } from './principal.js';
import { bearerToken } from './bearer.js';
import type { TokenVerifier } from './jwt-verifier.js';

/** What authentication may look at: headers, and method and URL for proof-of-possession checks. */
export interface CredentialRequest {
  readonly method: string;
  /** The public URL the client called (publicBaseUrl + path), without query, for DPoP `htu`. */
  readonly publicUrl: string;
  readonly headers: IncomingHttpHeaders;
}

export interface Authenticator {
  authenticate(request: CredentialRequest): Promise<Principal>;
  /** True once keys (or whatever verification needs) are loaded. */
  isReady(): boolean;
  /** Loads keys; retried by the server until it succeeds. */
  warmUp(): Promise<void>;
}

export function createBearerAuthenticator(verifier: TokenVerifier, options: { maxTokenBytes: number; claims: ClaimMapping }): Authenticator {
  return {
    async authenticate(request) {
      const token = bearerToken(request.headers.authorization, options.maxTokenBytes);
      const claims = await verifier.verify(token);
      return principalFromClaims(claims, options.claims);
    },
    isReady: () => verifier.isReady(),
    warmUp: () => verifier.warmUp(),
  };
}
