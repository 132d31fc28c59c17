/**
 * Browser SMART apps (CORS), in a real browser: Chromium (Debian's, driven by playwright-core)
 * loads a page from another origin that runs fhirclient against the gateway. The allowed origin
 * reads discovery, metadata and data, and sees the headers clients need; a page on an origin the
 * gateway does not allow is blocked by the browser, and its request is audited all the same.
 */
import type { Browser } from 'playwright-core';
import { launchBrowser, startPageServer, type PageServer } from '../support/browser.js';
import { freePort } from '../../src/devkit/ports.js';
import { until } from '../support/audit.js';
import { headerPairs, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let browser: Browser;
let allowed: PageServer;
let refused: PageServer;

const PAGE = '<!doctype html><html><head><script src="/fhir-client.js"></script></head><body>app</body></html>';

beforeAll(async () => {
  const appPort = await freePort();
  stack = await startStack({ config: (d) => ({ ...d, cors: { allowedOrigins: [`http://127.0.0.1:${appPort}`], maxAgeSeconds: 300 } }) });
  allowed = await startPageServer({ '/': PAGE }, { port: appPort });
  refused = await startPageServer({ '/': PAGE });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await allowed?.close();
  await refused?.close();
  await stack?.close();
});

async function pageAt(origin: string) {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => typeof (globalThis as unknown as { FHIR?: unknown }).FHIR === 'object');
  return page;
}

describe('a browser SMART app on an allowed origin', () => {
  test('fhirclient reads data with its bearer token through a preflight the gateway answers, and sees the headers clients need', async () => {
    const token = await stack.issuer.mint({ sub: 'Patient/pat-alba', scope: 'launch/patient patient/*.rs', patient: 'pat-alba', roles: ['patient'] });
    const page = await pageAt(allowed.origin);
    const result = await page.evaluate(
      async ({ base, token }) => {
        const FHIR = (globalThis as any).FHIR;
        const client = FHIR.client({ serverUrl: base, tokenResponse: { access_token: token, patient: 'pat-alba' } });
        const patient = await client.request('Patient/pat-alba');
        // The raw answer: which headers the page may read.
        const res = await fetch(`${base}/Patient/pat-alba`, { headers: { authorization: `Bearer ${token}` } });
        const unauthenticated = await fetch(`${base}/Patient/pat-alba`, { headers: { authorization: 'Bearer not-a-token' } });
        return {
          id: patient.id,
          requestId: res.headers.get('x-request-id'),
          etag: res.headers.get('etag'),
          challenge: unauthenticated.headers.get('www-authenticate'),
          unauthenticatedStatus: unauthenticated.status,
        };
      },
      { base: stack.base, token },
    );
    expect(result.id).toBe('pat-alba');
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.etag).toMatch(/^W\/"/);
    expect(result.unauthenticatedStatus).toBe(401);
    expect(result.challenge).toMatch(/^Bearer realm=.*error="invalid_token"$/);
    await page.close();
  });

  test('.well-known/smart-configuration and metadata are readable cross-origin without a token', async () => {
    const page = await pageAt(allowed.origin);
    const result = await page.evaluate(async (base) => {
      const smart = await (await fetch(`${base}/.well-known/smart-configuration`)).json();
      const metadata = await (await fetch(`${base}/metadata`)).json();
      return { issuer: smart.issuer, type: metadata.resourceType };
    }, stack.base);
    expect(result).toEqual({ issuer: stack.issuer.issuer, type: 'CapabilityStatement' });
    await page.close();
  });

  test('the preflight itself: methods and headers FHIR clients use, and a max age', async () => {
    const res = await fetch(`${stack.base}/Observation`, {
      method: 'OPTIONS',
      headers: { origin: allowed.origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, dpop, content-type, prefer, if-match, if-none-exist' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(allowed.origin);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, PATCH, DELETE');
    expect(res.headers.get('access-control-allow-headers')?.split(', ')).toEqual(expect.arrayContaining(['Authorization', 'DPoP', 'Content-Type', 'Prefer', 'If-Match', 'If-None-Exist']));
    expect(res.headers.get('access-control-max-age')).toBe('300');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toBe('Origin');
  });
});

describe('a page on an origin the gateway does not allow', () => {
  test('is blocked by the browser, gets no CORS header, and its request is audited all the same', async () => {
    const capabilityRecords = (): number => stack.auditRecords().filter((r) => r.request?.interaction === 'capabilities').length;
    const before = capabilityRecords();
    const page = await pageAt(refused.origin);
    const outcome = await page.evaluate(async (base) => {
      const attempt = async (init?: RequestInit): Promise<string> => {
        try {
          await fetch(`${base}/metadata`, init);
          return 'read';
        } catch (err) {
          return (err as Error).name;
        }
      };
      const FHIR = (globalThis as any).FHIR;
      const viaClient = await FHIR.client({ serverUrl: base, tokenResponse: { access_token: 'x' } })
        .request('Patient/pat-alba')
        .then(() => 'read', (err: Error) => err.name);
      return { simple: await attempt(), client: viaClient };
    }, stack.base);
    expect(outcome.simple).toBe('TypeError');
    expect(outcome.client).not.toBe('read');
    // The simple GET reached the gateway and was answered and audited; the browser kept the answer from the page.
    await until(capabilityRecords, (n) => n === before + 1, 3000, 'the audit record of the blocked page\'s request');

    const direct = await fetch(`${stack.base}/metadata`, { headers: { origin: refused.origin } });
    expect(direct.status).toBe(200);
    expect(headerPairs(direct.headers).map(([h]) => h).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const preflight = await fetch(`${stack.base}/Patient/pat-alba`, { method: 'OPTIONS', headers: { origin: refused.origin, 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(405);
    expect(headerPairs(preflight.headers).map(([h]) => h).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    await until(capabilityRecords, (n) => n === before + 2, 3000, 'the audit record of the direct request');
    await page.close();
  });
});
