/**
 * TLS on both sides, with real TLS on loopback (test/fixtures/tls): the HTTPS listener installs a
 * renewed certificate without a restart (and ignores a pair whose key does not match); the gateway
 * reaches an HTTPS upstream that requires a client certificate (mTLS), with its own credentials
 * and never the client's token, unless forwardClientToken says so.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { freePort } from '../../src/devkit/ports.js';
import { startGateway, type RunningGateway } from '../../src/server.js';
import { testLoggerWithFile } from '../support/logs.js';
import { startStack, type Stack } from '../support/stack.js';

const FIXTURES = new URL('../fixtures/tls/', import.meta.url).pathname;
const fixture = (name: string): Buffer => readFileSync(path.join(FIXTURES, name));
const fingerprintOf = (name: string): string => new X509Certificate(fixture(name)).fingerprint256;

let stack: Stack;
let dir: string;
beforeAll(async () => {
  stack = await startStack();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-tls-'));
});
afterAll(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

async function gatewayWith(doc: (port: number) => ConfigInput, env: NodeJS.ProcessEnv = {}, logger = testLoggerWithFile('tls').logger): Promise<{ gateway: RunningGateway; port: number }> {
  const port = await freePort();
  const gateway = await startGateway(buildConfig({ audit: { sinks: [{ type: 'file', path: path.join(dir, `audit-${port}.jsonl`) }] }, ...doc(port) }, { env: {}, baseDir: FIXTURES }), { logger, env });
  await gateway.ready;
  return { gateway, port };
}

/** The certificate a new TLS connection to the port is given. */
function presented(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, agent: false }, (res) => {
      resolve((res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '');
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the HTTPS listener', () => {
  test('installs a renewed certificate without a restart, and ignores a pair whose key does not match', async () => {
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    copyFileSync(path.join(FIXTURES, 'server.crt'), certFile);
    copyFileSync(path.join(FIXTURES, 'server.key'), keyFile);
    const log = testLoggerWithFile('tls-reload');
    const { gateway, port } = await gatewayWith(
      (p) => ({ listen: { host: '127.0.0.1', port: p, tls: { certFile, keyFile, reloadIntervalSeconds: 1 } }, publicBaseUrl: `https://127.0.0.1:${p}/fhir`, upstream: { url: stack.fhir.baseUrl }, auth: { issuer: stack.issuer.issuer } }),
      {},
      log.logger,
    );
    const until = async (want: string): Promise<string> => {
      const deadline = Date.now() + 10000;
      let got = await presented(port);
      while (got !== want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        got = await presented(port);
      }
      return got;
    };
    try {
      expect(await presented(port)).toBe(fingerprintOf('server.crt'));
      copyFileSync(path.join(FIXTURES, 'server-renewed.key'), keyFile);
      copyFileSync(path.join(FIXTURES, 'server-renewed.crt'), certFile);
      expect(await until(fingerprintOf('server-renewed.crt'))).toBe(fingerprintOf('server-renewed.crt'));

      // A certificate with somebody else's key: refused, the renewed pair stays.
      copyFileSync(path.join(FIXTURES, 'server.crt'), certFile);
      const deadline = Date.now() + 10000;
      while (!log.lines().some((l) => String(l['msg']).startsWith('TLS certificate not reloaded')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(log.lines().find((l) => String(l['msg']).startsWith('TLS certificate not reloaded'))?.['err']).toBe('the private key does not match the certificate');
      expect(await presented(port)).toBe(fingerprintOf('server-renewed.crt'));
    } finally {
      await gateway.close();
    }
  });
});

/** An HTTPS upstream that demands a client certificate, in front of the real FHIR server. */
async function startMtlsUpstream(target: string): Promise<{ url: string; seen: Array<{ authorized: boolean; subject: string | null; authorization: string | undefined; path: string }>; close(): Promise<void> }> {
  const to = new URL(target);
  const seen: Array<{ authorized: boolean; subject: string | null; authorization: string | undefined; path: string }> = [];
  const server = https.createServer({ cert: fixture('server.crt'), key: fixture('server.key'), requestCert: true, rejectUnauthorized: true, ca: [fixture('client.crt')] }, (req, res) => {
    const socket = req.socket as TLSSocket;
    seen.push({ authorized: socket.authorized, subject: socket.getPeerX509Certificate()?.subject ?? null, authorization: req.headers.authorization, path: req.url ?? '' });
    const out = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}${to.pathname}`,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

describe('the upstream over TLS', () => {
  test('mTLS with the gateway\'s client certificate and its own bearer credential; the client\'s token stays behind', async () => {
    const upstream = await startMtlsUpstream(stack.fhir.baseUrl);
    const { gateway, port } = await gatewayWith(
      (p) => ({
        listen: { host: '127.0.0.1', port: p },
        publicBaseUrl: stack.base,
        upstream: { url: upstream.url, tls: { caFile: 'server.crt', certFile: 'client.crt', keyFile: 'client.key' }, auth: { type: 'bearer', tokenEnv: 'UPSTREAM_TOKEN' } },
        auth: { issuer: stack.issuer.issuer },
      }),
      { UPSTREAM_TOKEN: 'gateway-service-credential' },
    );
    try {
      const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
      const res = await fetch(`http://127.0.0.1:${port}/fhir/Patient/pat-alba`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect((await res.json()).id).toBe('pat-alba');
      // The forwarded read and the gateway's own Consent lookup: both over mTLS, both with its credential.
      expect(upstream.seen.map((s) => s.path.split('?')[0])).toEqual(expect.arrayContaining(['/fhir/Patient/pat-alba', '/fhir/Consent']));
      for (const s of upstream.seen) expect(s).toMatchObject({ authorized: true, subject: 'CN=backend-client', authorization: 'Bearer gateway-service-credential' });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const expiry = /^fhirgw_tls_certificate_expiry_timestamp_seconds\{certificate="upstream-client"\} (\S+)$/m.exec(metrics)?.[1];
      expect(Number(expiry)).toBe(Date.parse(new X509Certificate(fixture('client.crt')).validTo) / 1000);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  test('without the client certificate the upstream refuses the handshake: 502, nothing served', async () => {
    const upstream = await startMtlsUpstream(stack.fhir.baseUrl);
    const { gateway, port } = await gatewayWith((p) => ({ listen: { host: '127.0.0.1', port: p }, publicBaseUrl: stack.base, upstream: { url: upstream.url, tls: { caFile: 'server.crt' } }, auth: { issuer: stack.issuer.issuer } }));
    try {
      const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
      const res = await fetch(`http://127.0.0.1:${port}/fhir/Patient/pat-alba`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(502);
      expect(upstream.seen).toEqual([]);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  test('with forwardClientToken the client\'s own token is passed on (and only then)', async () => {
    const upstream = await startMtlsUpstream(stack.fhir.baseUrl);
    const { gateway, port } = await gatewayWith((p) => ({
      listen: { host: '127.0.0.1', port: p },
      publicBaseUrl: stack.base,
      upstream: { url: upstream.url, tls: { caFile: 'server.crt', certFile: 'client.crt', keyFile: 'client.key' }, forwardClientToken: true },
      auth: { issuer: stack.issuer.issuer },
    }));
    try {
      const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
      expect((await fetch(`http://127.0.0.1:${port}/fhir/Patient/pat-alba`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      const forwarded = upstream.seen.find((s) => s.path === '/fhir/Patient/pat-alba');
      expect(forwarded?.authorization).toBe(`Bearer ${token}`);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe('Bulk Data and the gateway\'s credentials', () => {
  test('the kick-off goes to the upstream with the gateway\'s credential; status and files on another origin get none', async () => {
    // The upstream is addressed as localhost; its manifest names 127.0.0.1, an allowed file origin
    // (as an object store would be): same server, different origin.
    const fhirPort = new URL(stack.fhir.baseUrl).port;
    const { gateway, port } = await gatewayWith(
      (p) => ({
        listen: { host: '127.0.0.1', port: p },
        publicBaseUrl: stack.base.replace(/:\d+\//, `:${p}/`),
        upstream: { url: `http://localhost:${fhirPort}/fhir`, auth: { type: 'bearer', tokenEnv: 'UPSTREAM_TOKEN' } },
        bulk: { fileOrigins: [`http://127.0.0.1:${fhirPort}`] },
        auth: { issuer: stack.issuer.issuer, audience: stack.base.replace(/:\d+\//, `:${p}/`) },
      }),
      { UPSTREAM_TOKEN: 'gateway-service-credential' },
    );
    try {
      const base = `http://127.0.0.1:${port}/fhir`;
      const token = await stack.issuer.mint({ sub: 'svc-analytics', client_id: 'analytics', scope: 'system/*.rs', roles: ['clinician'], aud: base });
      const before = stack.fhir.requests.length;
      const kickoff = await fetch(`${base}/$export?_type=Patient`, { headers: { authorization: `Bearer ${token}`, prefer: 'respond-async' } });
      expect(kickoff.status).toBe(202);
      let manifest: { output: Array<{ url: string }> } | null = null;
      for (let i = 0; i < 5 && manifest === null; i++) {
        const poll = await fetch(kickoff.headers.get('content-location')!, { headers: { authorization: `Bearer ${token}` } });
        if (poll.status === 200) manifest = (await poll.json()) as { output: Array<{ url: string }> };
        else await poll.arrayBuffer();
      }
      const file = await fetch(manifest!.output[0]!.url, { headers: { authorization: `Bearer ${token}` } });
      expect(file.status).toBe(200);
      expect((await file.text()).split('\n').filter((l) => l !== '')).toHaveLength(3);
      const sent = stack.fhir.requests.slice(before);
      const kick = sent.find((r) => r.url.includes('$export?'));
      expect(kick?.headers['host']).toBe(`localhost:${fhirPort}`);
      expect(kick?.headers['authorization']).toBe('Bearer gateway-service-credential');
      const elsewhere = sent.filter((r) => r.url.includes('poll-status') || r.url.startsWith('/bulk-files/'));
      expect(elsewhere.some((r) => r.url.startsWith('/bulk-files/'))).toBe(true);
      for (const r of elsewhere) {
        expect(r.headers['host']).toBe(`127.0.0.1:${fhirPort}`);
        expect(r.headers['authorization']).toBeUndefined();
      }
    } finally {
      await gateway.close();
    }
  });
});
