/** DPoP proofs as a client makes them (RFC 9449 section 4.2), for tests. */
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export interface DpopClientKey {
  readonly privateKey: webcrypto.CryptoKey;
  readonly publicJwk: JWK;
  readonly thumbprint: string;
}

export async function newDpopKey(): Promise<DpopClientKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, thumbprint: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

export function dpopProof(
  key: DpopClientKey,
  request: { method: string; url: string; accessToken: string },
  over: { claims?: Record<string, unknown>; header?: Record<string, unknown>; iat?: number } = {},
): Promise<string> {
  return new SignJWT({
    htm: request.method,
    htu: request.url,
    jti: randomUUID(),
    ath: createHash('sha256').update(request.accessToken).digest('base64url'),
    ...over.claims,
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk, ...over.header })
    .setIssuedAt(over.iat ?? Math.floor(Date.now() / 1000))
    .sign(key.privateKey);
}
