/**
 * Several trusted issuers (the hospital IdP, a backend-services issuer, ...), each with its own
 * audience, algorithms, claim mapping and verification method. A JWT is routed by its (unverified)
 * `iss` to that issuer's verifier, which checks `iss` again with everything else; a token naming an
 * issuer that is not configured is refused without any network call. A token that is not a JWT
 * goes to the one issuer configured for introspection, if there is one.
 */
import { decodeJwt } from 'jose';
import type { ResolvedIssuer } from '../config/auth-schema.js';
import { invalidToken } from './token-errors.js';

export interface VerifiedToken {
  readonly claims: Readonly<Record<string, unknown>>;
  readonly issuer: ResolvedIssuer;
  readonly format: 'jwt' | 'opaque';
}

export interface IssuerVerifier {
  readonly issuer: ResolvedIssuer;
  verify(token: string): Promise<Readonly<Record<string, unknown>>>;
}

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

export function createTokenVerifier(verifiers: readonly IssuerVerifier[]): TokenVerifier {
  const byIssuer = new Map(verifiers.map((v) => [v.issuer.issuer, v]));
  const introspecting = verifiers.find((v) => v.issuer.introspection !== undefined) ?? null;

  return {
    async verify(token) {
      const iss = unverifiedIssuerOf(token);
      if (iss === undefined) {
        if (introspecting === null) throw invalidToken('token.malformed');
        return { claims: await introspecting.verify(token), issuer: introspecting.issuer, format: 'opaque' };
      }
      const verifier = iss === null ? undefined : byIssuer.get(iss);
      if (verifier === undefined) throw invalidToken('token.claim.iss');
      const format = verifier.issuer.introspection === undefined ? 'jwt' : 'opaque';
      return { claims: await verifier.verify(token), issuer: verifier.issuer, format };
    },
  };
}

/** `undefined`: not a JWT at all; `null`: a JWT without a string `iss`. */
function unverifiedIssuerOf(token: string): string | null | undefined {
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(token);
  } catch {
    return undefined;
  }
  return typeof claims.iss === 'string' ? claims.iss : null;
}
