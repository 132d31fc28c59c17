/**
 * The gateway's own credentials to the upstream: an OAuth client-credentials token, obtained once
 * for concurrent callers and renewed 30 s before it expires (a real token endpoint on loopback, a
 * fixed clock); the configuration rules around them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createUpstreamAccess } from '../../src/proxy/upstream-access.js';

let tokenServer: http.Server;
let tokenUrl: string;
const requests: Array<{ authorization: string | undefined; body: string }> = [];
let answer: (n: number) => { status: number; body: unknown } = (n) => ({ status: 200, body: { access_token: `token-${n}`, token_type: 'Bearer', expires_in: 3600 } });

beforeAll(async () => {
  tokenServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ authorization: req.headers.authorization, body });
      const { status, body: out } = answer(requests.length);
      // Slow enough that concurrent callers overlap.
      setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out)), 20);
    });
  });
  await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
});
afterAll(() => new Promise<void>((r) => tokenServer.close(() => r())));

const base: ConfigInput = { publicBaseUrl: 'https://gw.example/fhir', upstream: { url: 'https://fhir.internal/fhir' }, auth: { issuer: 'https://idp.example' } };
const withUpstream = (upstream: Partial<ConfigInput['upstream']>) => buildConfig({ ...base, upstream: { ...base.upstream, ...upstream } }, { env: {} });

describe('client-credentials tokens for the upstream', () => {
  test('one token request for concurrent callers, reused until 30 s before expiry, then renewed', async () => {
    requests.length = 0;
    let now = 1_000_000;
    const access = createUpstreamAccess(withUpstream({ auth: { type: 'client-credentials', tokenUrl, clientId: 'fhir-gateway', clientSecretEnv: 'UPSTREAM_SECRET', scope: 'system/*.rs' } }), { UPSTREAM_SECRET: 's3cret' }, () => now);
    try {
      const first = await Promise.all([access.credentials(), access.credentials(), access.credentials()]);
      expect(first).toEqual([{ authorization: 'Bearer token-1' }, { authorization: 'Bearer token-1' }, { authorization: 'Bearer token-1' }]);
      expect(requests).toHaveLength(1);
      expect(requests[0]!.authorization).toBe(`Basic ${Buffer.from('fhir-gateway:s3cret').toString('base64')}`);
      expect(new URLSearchParams(requests[0]!.body).get('grant_type')).toBe('client_credentials');
      expect(new URLSearchParams(requests[0]!.body).get('scope')).toBe('system/*.rs');
      now += 3_569_000; // 3569 s of a 3600 s token: still more than 30 s left
      expect(await access.credentials()).toEqual({ authorization: 'Bearer token-1' });
      now += 2_000;
      expect(await access.credentials()).toEqual({ authorization: 'Bearer token-2' });
      expect(requests).toHaveLength(2);
    } finally {
      access.close();
    }
  });

  test('a failing token endpoint is an upstream failure (502), not a request without credentials', async () => {
    requests.length = 0;
    answer = () => ({ status: 401, body: { error: 'invalid_client' } });
    const access = createUpstreamAccess(withUpstream({ auth: { type: 'client-credentials', tokenUrl, clientId: 'x', clientSecretEnv: 'S' } }), { S: 'wrong' });
    try {
      await expect(access.credentials()).rejects.toMatchObject({ code: 'upstream_unavailable', status: 502, reasons: ['upstream.credentials'] });
    } finally {
      access.close();
    }
  });
});

describe('upstream credential configuration', () => {
  const keyOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) return err.key;
      throw err;
    }
    throw new Error('expected a ConfigError');
  };

  test('the client token is forwarded only when asked, and never together with the gateway\'s own credentials', () => {
    expect(withUpstream({}).upstream.forwardClientToken).toBe(false);
    expect(keyOf(() => withUpstream({ forwardClientToken: true, auth: { type: 'bearer', tokenEnv: 'T' } }))).toBe('upstream.forwardClientToken');
  });

  test('a missing secret or TLS file stops start-up naming the key; TLS needs an https upstream', () => {
    expect(keyOf(() => createUpstreamAccess(withUpstream({ auth: { type: 'bearer', tokenEnv: 'NOT_SET' } }), {}))).toBe('upstream.auth.tokenEnv');
    expect(keyOf(() => createUpstreamAccess(withUpstream({ tls: { caFile: '/nonexistent/ca.pem' } }), {}))).toBe('upstream.tls.caFile');
    expect(keyOf(() => buildConfig({ ...base, upstream: { url: 'http://fhir.internal/fhir', tls: { caFile: 'ca.pem' } } }, { env: {} }))).toBe('upstream.tls');
    expect(keyOf(() => withUpstream({ tls: { certFile: 'client.crt' } }))).toBe('upstream.tls');
  });
});
