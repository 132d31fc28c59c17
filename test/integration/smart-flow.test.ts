/**
 * A real SMART flow through the gateway: a real authorization server (node-oidc-provider,
 * configured for SMART scopes and the patient launch context) issues the tokens, the real SMART
 * client library (fhirclient, its Node entry) discovers the authorization server through the
 * gateway's `.well-known/smart-configuration`, runs the authorization code flow with PKCE, and
 * reads through the gateway. A second oidc-provider issues opaque tokens to a backend service:
 * the gateway verifies them by RFC 7662 introspection, and a second gateway replica finds the
 * answer in Redis without asking the authorization server again. oidc-provider also issues
 * DPoP-bound tokens (its own RFC 9449 implementation), which the gateway accepts only with a proof.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import smart from 'fhirclient';
import { decodeJwt } from 'jose';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { freePort } from '../../src/devkit/ports.js';
import { testLogger } from '../support/logs.js';
import { startGateway, type RunningGateway } from '../../src/server.js';
import { dpopProof, newDpopKey } from '../support/dpop.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { startSmartProvider, type SmartProvider } from '../support/smart-provider.js';
import { jsonOf, startStack, type Stack } from '../support/stack.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];
const INTROSPECTION_SECRET_ENV = 'OPAQUE_INTROSPECTION_SECRET';

let redis: RedisServer;
let jwtIdp: SmartProvider;
let opaqueIdp: SmartProvider;
let stack: Stack;
let replica: RunningGateway;
let app: { origin: string; close(): Promise<void> };

beforeAll(async () => {
  redis = await startRedisServer();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/fhir`;
  const appPort = await freePort();
  jwtIdp = await startSmartProvider({ fhirBase: base, accessTokenFormat: 'jwt', patientId: alba.id, redirectUri: `http://127.0.0.1:${appPort}/callback` });
  opaqueIdp = await startSmartProvider({ fhirBase: base, accessTokenFormat: 'opaque', patientId: alba.id });
  const env = { [INTROSPECTION_SECRET_ENV]: opaqueIdp.secrets.gateway };
  const withIssuers = (d: ConfigInput): ConfigInput => ({
    ...d,
    auth: {
      issuers: [
        { issuer: jwtIdp.issuer, typ: 'at+jwt' },
        { issuer: opaqueIdp.issuer, introspection: { endpoint: `${opaqueIdp.issuer}/token/introspection`, clientId: 'fhir-gateway', clientSecretEnv: INTROSPECTION_SECRET_ENV } },
      ],
    },
    redis: { url: redis.url, keyPrefix: 'smartflow:' },
  });
  stack = await startStack({ port, config: withIssuers, env });
  // A second replica: same public base, same Redis, its own port.
  const replicaConfig = buildConfig({ ...withIssuers({ publicBaseUrl: base, upstream: { url: stack.fhir.baseUrl }, auth: {}, log: { level: 'silent' } }), listen: { host: '127.0.0.1', port: 0 } }, { env: {} });
  replica = await startGateway(replicaConfig, { logger: testLogger('smart-flow'), env });
  await replica.ready;
  app = await startSmartApp(appPort, base);
});
afterAll(async () => {
  await app.close();
  await replica.close();
  await stack.close();
  await jwtIdp.close();
  await opaqueIdp.close();
  await redis.stop();
});

describe('a SMART app (fhirclient) with a real authorization server (oidc-provider)', () => {
  test('discovers the authorization server through the gateway, gets a patient-context token, reads its own data only', async () => {
    const before = stack.fhir.requests.length;
    const { response, visited } = await browse(`${app.origin}/launch`);
    expect(response.status).toBe(200);
    const result = (await response.json()) as { patient: { id: string; name: Array<{ family: string }> }; observations: { entry?: Array<{ resource: { subject: { reference: string } } }> }; otherPatientStatus: number; tokenPatient: string; scope: string };

    // The browser was sent to the authorization endpoint the gateway advertised, with aud = the FHIR base.
    const authorize = new URL(visited.find((u) => u.startsWith(`${jwtIdp.issuer}/auth?`)) as string);
    expect(authorize.searchParams.get('aud')).toBe(stack.base);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');

    expect(result.tokenPatient).toBe(alba.id);
    expect(result.scope.split(' ')).toEqual(expect.arrayContaining(['launch/patient', 'patient/*.rs']));
    expect(result.patient).toMatchObject({ id: alba.id, name: [{ family: alba.family }] });
    expect(result.observations.entry).toHaveLength(4);
    for (const e of result.observations.entry ?? []) expect(e.resource.subject.reference).toBe(`Patient/${alba.id}`);
    expect(result.otherPatientStatus).toBe(403);
    expect(stack.fhir.requests.length).toBeGreaterThan(before);
  });

  test('.well-known/smart-configuration and metadata name the real authorization server, without a token', async () => {
    const res = await stack.fetch('.well-known/smart-configuration');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = await jsonOf(res);
    expect(doc).toMatchObject({
      issuer: jwtIdp.issuer,
      authorization_endpoint: `${jwtIdp.issuer}/auth`,
      token_endpoint: `${jwtIdp.issuer}/token`,
      jwks_uri: `${jwtIdp.issuer}/jwks`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(doc.capabilities).toEqual(expect.arrayContaining(['launch-standalone', 'permission-v2']));

    const cs = await jsonOf(await stack.fetch('metadata'));
    const security = cs.rest[0].security;
    expect(security.service[0].coding[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' });
    const uris = security.extension.find((e: { url: string }) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris').extension;
    expect(uris).toEqual(expect.arrayContaining([{ url: 'authorize', valueUri: `${jwtIdp.issuer}/auth` }, { url: 'token', valueUri: `${jwtIdp.issuer}/token` }]));
  });
});

describe('a backend service with opaque tokens (RFC 7662 introspection)', () => {
  test('is verified by introspection, and a second replica reuses the answer from Redis', async () => {
    const token = await clientCredentials(opaqueIdp, 'system/*.rs');
    expect(token.split('.')).toHaveLength(1); // opaque, not a JWT
    const res = await stack.fetch(`Patient/${bruno.id}`, { token });
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).id).toBe(bruno.id);

    const onReplica = await fetch(`${replica.url}/fhir/Patient/${bruno.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(onReplica.status).toBe(200);
    const primary = await metricsOf(new URL(stack.base).origin);
    const second = await metricsOf(replica.url);
    expect(primary).toMatch(new RegExp(`^fhirgw_token_introspections_total\\{issuer="${opaqueIdp.issuer}",result="active"\\} 1$`, 'm'));
    expect(second).not.toMatch(/^fhirgw_token_introspections_total\{/m);
    expect(second).toMatch(/^fhirgw_introspection_cache_lookups_total\{result="hit"\} 1$/m);
  });

  test('an opaque token the authorization server does not know is 401, and nothing is forwarded', async () => {
    const before = stack.fhir.requests.length;
    const res = await stack.fetch(`Patient/${alba.id}`, { token: 'not-a-token-this-server-issued' });
    expect(res.status).toBe(401);
    expect((await jsonOf(res)).issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['token_invalid', 'token.inactive']);
    expect(stack.fhir.requests.length).toBe(before);
  });
});

describe('DPoP-bound tokens from oidc-provider', () => {
  test('pass with a proof of the bound key, and never as Bearer tokens', async () => {
    const key = await newDpopKey();
    const tokenEndpoint = `${jwtIdp.issuer}/token`;
    const tokenProof = await dpopProof(key, { method: 'POST', url: tokenEndpoint, accessToken: '' }, { claims: { ath: undefined } });
    const token = await clientCredentials(jwtIdp, 'system/*.rs', { dpop: tokenProof });
    expect(decodeJwt(token).cnf).toEqual({ jkt: key.thumbprint });

    const url = `${stack.base}/Patient/${alba.id}`;
    const ok = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, { method: 'GET', url, accessToken: token }) } });
    expect(ok.status).toBe(200);
    const before = stack.fhir.requests.length;
    const asBearer = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP /);
    expect(stack.fhir.requests.length).toBe(before);
  });
});

async function clientCredentials(idp: SmartProvider, scope: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`backend:${idp.secrets.backend}`).toString('base64')}`, ...headers },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
  return body.access_token;
}

async function metricsOf(origin: string): Promise<string> {
  return (await fetch(`${origin}/metrics`)).text();
}

/** A browser: follows redirects across the app, the authorization server and back, keeping cookies. */
async function browse(start: string): Promise<{ response: Response; visited: string[] }> {
  const jar = new Map<string, string>();
  const visited: string[] = [];
  let url = start;
  for (let hop = 0; hop < 20; hop++) {
    visited.push(url);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0] as string;
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (value === '') jar.delete(pair.slice(0, eq));
      else jar.set(pair.slice(0, eq), value);
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      url = new URL(location, url).href;
      continue;
    }
    return { response: res, visited };
  }
  throw new Error(`too many redirects: ${visited.join(' -> ')}`);
}

/** The SMART app: a launch page and a redirect page, written as fhirclient's Node documentation shows. */
async function startSmartApp(port: number, fhirBase: string): Promise<{ origin: string; close(): Promise<void> }> {
  const origin = `http://127.0.0.1:${port}`;
  const sessions = new Map<string, unknown>();
  const storage = {
    get: async (key: string) => sessions.get(key),
    set: async (key: string, value: unknown) => {
      sessions.set(key, value);
      return value;
    },
    unset: async (key: string) => sessions.delete(key),
  };
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', origin).pathname;
    const run = async () => {
      if (path === '/launch') {
        await smart(req, res, storage).authorize({ iss: fhirBase, clientId: 'smart-app', scope: 'launch/patient openid fhirUser patient/*.rs', redirectUri: `${origin}/callback` });
        return;
      }
      if (path === '/callback') {
        const client = await smart(req, res, storage).ready();
        const patient = await client.request(`Patient/${client.patient.id}`);
        const observations = await client.request('Observation');
        let otherPatientStatus = 200;
        try {
          await client.request(`Patient/${bruno.id}`);
        } catch (err) {
          otherPatientStatus = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode ?? 0;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ patient, observations, otherPatientStatus, tokenPatient: client.patient.id, scope: client.state.tokenResponse?.scope ?? '' }));
        return;
      }
      res.writeHead(404).end();
    };
    run().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    origin,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
