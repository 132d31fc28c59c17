/**
 * A development token issuer on loopback: SMART discovery, a JWKS, and signed access tokens.
 * For the demo and the tests only: it signs whatever it is asked to, for anyone who asks.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

type CryptoKey = webcrypto.CryptoKey;

export interface SigningKey {
  readonly kid: string;
  readonly alg: 'ES256' | 'RS256';
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface TokenIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  /** Signs an access token; `aud` defaults to the audience given at start. */
  mint(claims: JWTPayload & { scope?: string }, options?: { expiresInSeconds?: number; key?: SigningKey; header?: Record<string, unknown> }): Promise<string>;
  /** Adds a key (published in the JWKS) and makes it the signing key: an IdP key rotation. */
  rotate(alg?: SigningKey['alg']): Promise<SigningKey>;
  /** Keys currently published. */
  readonly keys: SigningKey[];
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  /** While false, the JWKS endpoint answers 503 (an IdP outage). */
  setJwksAvailable(available: boolean): void;
  close(): Promise<void>;
}

export async function newSigningKey(alg: SigningKey['alg'] = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export async function startTokenIssuer(options: { audience: string; host?: string; port?: number }): Promise<TokenIssuer> {
  const keys: SigningKey[] = [await newSigningKey('ES256')];
  let signing = keys[0] as SigningKey;
  let fetches = 0;
  let jwksAvailable = true;
  let issuer = '';

  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/jwks') {
      fetches++;
      if (jwksAvailable) send(200, { keys: keys.map((k) => k.publicJwk) });
      else send(503, { error: 'temporarily_unavailable' });
    } else if (req.url === '/.well-known/smart-configuration') {
      send(200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        grant_types_supported: ['authorization_code', 'client_credentials'],
        code_challenge_methods_supported: ['S256'],
        capabilities: ['launch-standalone', 'context-standalone-patient', 'permission-v1', 'permission-v2', 'client-public'],
      });
    } else send(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  issuer = `http://${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    keys,
    async mint(claims, opts = {}) {
      const key = opts.key ?? signing;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ client_id: 'demo-app', jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...opts.header })
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer)
        .setAudience(claims.aud ?? options.audience)
        .setIssuedAt(typeof claims.iat === 'number' ? claims.iat : now)
        .setExpirationTime(typeof claims.exp === 'number' ? claims.exp : now + (opts.expiresInSeconds ?? 3600))
        .sign(key.privateKey);
    },
    async rotate(alg = 'ES256') {
      const key = await newSigningKey(alg);
      keys.push(key);
      signing = key;
      return key;
    },
    jwksFetches: () => fetches,
    setJwksAvailable: (available) => {
      jwksAvailable = available;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
