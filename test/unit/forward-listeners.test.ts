/**
 * The forwarder on one client request making many upstream exchanges, as a batch or a
 * gateway-paged search does: what http-proxy listens to on the client's request and response for
 * an exchange is removed when the exchange settles. Real HTTP on loopback, both sides.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { buildConfig } from '../../src/config/load.js';
import { createForwarder, type Forwarder } from '../../src/proxy/forward.js';
import { createUpstreamAccess } from '../../src/proxy/upstream-access.js';

const EVENTS = [
  ['req', 'aborted'],
  ['req', 'error'],
  ['res', 'close'],
  ['res', 'error'],
] as const;

let upstream: http.Server;
let gateway: http.Server;
let forwarder: Forwarder;
let gatewayUrl: string;
const counts: Array<{ before: number[]; after: number[]; statuses: number[] }> = [];

const listen = (server: http.Server): Promise<string> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

beforeAll(async () => {
  upstream = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify({ resourceType: 'Patient', id: req.url?.split('/').pop() })));
  const upstreamUrl = await listen(upstream);
  const config = buildConfig({ publicBaseUrl: 'https://gw.example/fhir', upstream: { url: upstreamUrl }, auth: { issuer: 'https://idp.example' } }, { env: {} });
  forwarder = createForwarder({ upstreamUrl, timeoutMs: 5000, maxResponseBytes: 1 << 20, access: createUpstreamAccess(config, {}) });
  gateway = http.createServer((req, res) => {
    void (async () => {
      const count = () => EVENTS.map(([on, event]) => (on === 'req' ? req : res).listenerCount(event));
      const before = count();
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) statuses.push((await forwarder.forward(req, res, { method: 'GET', path: `/Patient/p${i}`, headers: {}, body: null })).status);
      counts.push({ before, after: count(), statuses });
      res.writeHead(200).end('done');
    })().catch((err: unknown) => res.writeHead(500).end(`forward failed: ${String(err)}`));
  });
  gatewayUrl = await listen(gateway);
});

afterAll(async () => {
  forwarder.close();
  await Promise.all([upstream, gateway].map((s) => new Promise((r) => s.close(r))));
});

test('25 exchanges on one client request leave its listeners as they were before the first', async () => {
  const res = await fetch(`${gatewayUrl}/batch`);
  expect(await res.text()).toBe('done');
  const [only] = counts;
  expect(only?.statuses).toEqual(Array.from({ length: 25 }, () => 200));
  expect(only?.after).toEqual(only?.before);
});
