/**
 * Hand-built JWS for attack tests: jose refuses to produce some of them (an unknown `crit`, for
 * one), so the signing input is signed with WebCrypto directly. ES256 and RS256 keys only.
 */
import { webcrypto } from 'node:crypto';
import type { SigningKey } from '../../src/devkit/token-issuer.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

export async function signRaw(header: Record<string, unknown>, payload: Record<string, unknown>, key: SigningKey): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`;
  const algorithm = key.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
  const signature = await webcrypto.subtle.sign(algorithm, key.privateKey, Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/** An unsigned token (`alg: none`, empty signature). */
export function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${b64(header)}.${b64(payload)}.`;
}
