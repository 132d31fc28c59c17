/**
 * Is the token used by the client it was issued to? A token's `cnf` claim (RFC 7800) binds it to a
 * DPoP key (`jkt`, RFC 9449) or to a TLS client certificate (`x5t#S256`, RFC 8705); the gateway
 * compares it with what the request proved: the DPoP proof's key thumbprint, or the thumbprint of
 * the certificate the client presented in the TLS handshake with the gateway.
 *
 * - a DPoP-bound token presented as a Bearer token is refused (RFC 9449 7.2);
 * - the DPoP scheme with a token that is not DPoP-bound is refused (nothing to compare);
 * - a certificate-bound token without the matching certificate is refused;
 * - with `dpop.required`, an unbound token is refused.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { TokenBinding } from './principal.js';

export interface PresentedProof {
  readonly scheme: 'bearer' | 'dpop';
  /** Thumbprint of the verified DPoP proof key (DPoP scheme only). */
  readonly dpopThumbprint: string | null;
  /** DER bytes of the TLS client certificate, when TLS terminates at the gateway and the client sent one. */
  readonly clientCertificate: Buffer | null;
}

function refused(reason: string, scheme: 'Bearer' | 'DPoP'): GatewayError {
  return new GatewayError('token_invalid', { reasons: [reason], bearer: { error: 'invalid_token', scheme } });
}

export function checkTokenBinding(cnf: unknown, presented: PresentedProof, options: { dpopRequired: boolean }): TokenBinding {
  const conf = typeof cnf === 'object' && cnf !== null && !Array.isArray(cnf) ? (cnf as Record<string, unknown>) : {};
  const jkt = conf['jkt'];
  const x5t = conf['x5t#S256'];
  let binding: TokenBinding = null;

  if (jkt !== undefined) {
    if (presented.scheme !== 'dpop') throw refused('token.dpop-bound', 'DPoP');
    if (typeof jkt !== 'string' || jkt !== presented.dpopThumbprint) throw refused('token.dpop-key-mismatch', 'DPoP');
    binding = 'dpop';
  } else if (presented.scheme === 'dpop') {
    throw refused('token.not-dpop-bound', 'DPoP');
  }

  if (x5t !== undefined) {
    if (presented.clientCertificate === null) throw refused('token.certificate-missing', 'Bearer');
    const thumbprint = createHash('sha256').update(presented.clientCertificate).digest('base64url');
    if (typeof x5t !== 'string' || x5t !== thumbprint) throw refused('token.certificate-mismatch', 'Bearer');
    binding ??= 'mtls';
  }

  if (options.dpopRequired && binding !== 'dpop') throw refused('token.dpop-required', 'DPoP');
  return binding;
}
