/**
 * authenticate: credentials on a request -> the Principal policy sees, or a 401/503 GatewayError.
 * The pipeline knows only this interface; issuers, introspection, revocation and proof-of-possession
 * live behind it, in this order:
 *
 *   Authorization header -> token verified by its issuer (signature or introspection)
 *     -> DPoP proof (DPoP scheme) -> token binding (cnf.jkt / cnf.x5t#S256) -> revocation -> Principal
 *
 * Cheap, local checks come first, so a forged token never costs a store or network round trip
 * beyond the issuer's keys.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { DpopProofOptions } from './dpop-proof.js';
import { verifyDpopProof } from './dpop-proof.js';
import type { Principal } from './principal.js';
import { principalFromClaims } from './principal.js';
import { presentedToken } from './presented-token.js';
import type { RevocationList } from './revocation.js';
import { checkTokenBinding } from './token-binding.js';
import type { TokenVerifier } from './token-verifier.js';

/** What authentication may look at: headers, method and URL for DPoP, the TLS client certificate for RFC 8705. */
export interface CredentialRequest {
  readonly method: string;
  /** The public URL the client called (publicBaseUrl + path), without query, for DPoP `htu`. */
  readonly publicUrl: string;
  readonly headers: IncomingHttpHeaders;
  /** DER of the client's TLS certificate when TLS terminates at the gateway and the client sent one. */
  readonly clientCertificate?: Buffer | null;
}

export interface Authenticator {
  authenticate(request: CredentialRequest): Promise<Principal>;
  /** True once keys (or whatever verification needs) are loaded. */
  isReady(): boolean;
  /** Per issuer, for /readyz: its signing keys loaded or not (introspected issuers need none). */
  issuerReadiness?(): readonly IssuerReadiness[];
  /** Loads keys; retried by the server until it succeeds. */
  warmUp(): Promise<void>;
}

export interface IssuerReadiness {
  readonly issuer: string;
  readonly keys: 'loaded' | 'not-loaded' | 'introspection';
}

export interface AuthenticatorParts {
  readonly tokens: TokenVerifier;
  readonly maxTokenBytes: number;
  readonly dpop: DpopProofOptions & { readonly required: boolean };
  readonly revocation: RevocationList;
  readonly isReady: () => boolean;
  readonly issuerReadiness?: () => readonly IssuerReadiness[];
  readonly warmUp: () => Promise<void>;
}

export function createAuthenticator(parts: AuthenticatorParts): Authenticator {
  return {
    async authenticate(request) {
      const presented = presentedToken(request.headers, parts.maxTokenBytes);
      const { claims, issuer } = await parts.tokens.verify(presented.token);
      const dpopThumbprint =
        presented.scheme === 'dpop'
          ? await verifyDpopProof(presented.proof, { method: request.method, url: request.publicUrl, accessToken: presented.token }, parts.dpop)
          : null;
      const binding = checkTokenBinding(claims['cnf'], { scheme: presented.scheme, dpopThumbprint, clientCertificate: request.clientCertificate ?? null }, { dpopRequired: parts.dpop.required });
      const principal = principalFromClaims(claims, issuer.claims, binding, issuer.assurance);
      await parts.revocation.check({ iss: principal.iss, sub: principal.sub, jti: principal.jti, clientId: principal.client_id, iat: typeof claims['iat'] === 'number' ? claims['iat'] : null });
      return principal;
    },
    isReady: parts.isReady,
    ...(parts.issuerReadiness ? { issuerReadiness: parts.issuerReadiness } : {}),
    warmUp: parts.warmUp,
  };
}

/** Counts every refusal by its reason (a bounded set: the gateway's own reason codes). */
export function withRejectionCount(inner: Authenticator, count: (reason: string) => void): Authenticator {
  return {
    ...inner,
    async authenticate(request) {
      try {
        return await inner.authenticate(request);
      } catch (err) {
        count(rejectionReasonOf(err));
        throw err;
      }
    },
  };
}

function rejectionReasonOf(err: unknown): string {
  const e = err as { code?: unknown; reasons?: unknown };
  if (e.code === 'token_missing') return 'token.missing';
  const first = Array.isArray(e.reasons) ? e.reasons[0] : undefined;
  return typeof first === 'string' && /^(token|dpop|revocation)\.[a-z0-9.-]{1,40}$/.test(first) ? first : 'other';
}
