/**
 * Certificate-bound access tokens (RFC 8705) with TLS terminating at the gateway: a token whose
 * `cnf.x5t#S256` names the client's certificate passes only over a TLS connection on which that
 * client presented that certificate. Real TLS on loopback with the test certificates in
 * test/fixtures/tls (self-signed client certificates, as RFC 8705 2.2 allows).
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { buildConfig } from '../../src/config/load.js';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { freePort } from '../../src/devkit/ports.js';
import { testLogger } from '../support/logs.js';
import { startGateway, type RunningGateway } from '../../src/server.js';
import { startStack, type Stack } from '../support/stack.js';

const alba = SYNTHETIC_PATIENTS[0]!;
const tls = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const thumbprintOf = (pem: Buffer) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

let stack: Stack;
let gateway: RunningGateway;
let base: string;

beforeAll(async () => {
  stack = await startStack();
  const port = await freePort();
  base = `https://127.0.0.1:${port}/fhir`;
  const fixtures = new URL('../fixtures/tls/', import.meta.url).pathname;
  gateway = await startGateway(
    buildConfig(
      {
        listen: { host: '127.0.0.1', port, tls: { certFile: 'server.crt', keyFile: 'server.key' } },
        publicBaseUrl: base,
        upstream: { url: stack.fhir.baseUrl },
        auth: { issuer: stack.issuer.issuer },
        log: { level: 'silent' },
      },
      { env: {}, baseDir: fixtures },
    ),
    { logger: testLogger('mtls-binding'), env: {} },
  );
  await gateway.ready;
});
afterAll(async () => {
  await gateway.close();
  await stack.close();
});

function get(path: string, token: string, client: 'client' | 'other-client' | null): Promise<{ status: number; body: string; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${base}/${path}`,
      {
        ca: tls('server.crt'),
        headers: { authorization: `Bearer ${token}` },
        ...(client ? { cert: tls(`${client}.crt`), key: tls(`${client}.key`) } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, challenge: res.headers['www-authenticate'] }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('certificate-bound tokens (RFC 8705)', () => {
  const boundToken = () => stack.issuer.mint({ sub: 'backend', scope: 'system/*.rs', aud: base, cnf: { 'x5t#S256': thumbprintOf(tls('client.crt')) } });

  test('pass over a connection where the client presented the bound certificate', async () => {
    const res = await get(`Patient/${alba.id}`, await boundToken(), 'client');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).id).toBe(alba.id);
  });

  test('are refused without a client certificate, or with another one, and nothing is forwarded', async () => {
    const before = stack.fhir.requests.length;
    const token = await boundToken();
    const none = await get(`Patient/${alba.id}`, token, null);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['token_invalid', 'token.certificate-missing']);
    const other = await get(`Patient/${alba.id}`, token, 'other-client');
    expect(other.status).toBe(401);
    expect(JSON.parse(other.body).issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['token_invalid', 'token.certificate-mismatch']);
    expect(other.challenge).toMatch(/^Bearer realm="[^"]+", error="invalid_token"$/);
    expect(stack.fhir.requests.length).toBe(before);
  });

  test('an unbound token works over TLS with or without a client certificate', async () => {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], aud: base });
    expect((await get(`Patient/${alba.id}`, token, null)).status).toBe(200);
    expect((await get(`Patient/${alba.id}`, token, 'other-client')).status).toBe(200);
  });
});
