/**
 * How policy reaches a running gateway: signed bundles (real opa-signed bundles: valid, tampered,
 * wrong key, unsigned), a watched file and an OPA bundle service (ETag) replacing the policy without
 * a restart while the last good one survives bad updates, shadow mode and deployment data.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, test } from '@jest/globals';
import tar from 'tar-stream';
import { readBundleFile } from '../../src/policy/bundle.js';
import { buildTestBundle, trivialPolicy } from '../support/opa.js';
import { jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';
import { eventually, metric } from '../support/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-dist-'));
const keyPair = (name: string) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = path.join(dir, `${name}.key.pem`);
  const pub = path.join(dir, `${name}.pub.pem`);
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { priv, pub };
};
const trusted = keyPair('trusted');
const stranger = keyPair('stranger');
const verification = { keys: [{ id: 'release-1', algorithm: 'RS256' as const, publicKey: readFileSync(trusted.pub, 'utf8') }] };
const signedAllow = buildTestBundle(trivialPolicy(true), { revision: 'rev-allow', signing: { keyFile: trusted.priv, algorithm: 'RS256', keyId: 'release-1' } });
const signedDeny = buildTestBundle(trivialPolicy(false), { revision: 'rev-deny', signing: { keyFile: trusted.priv, algorithm: 'RS256', keyId: 'release-1' } });
const unsignedAllow = buildTestBundle(trivialPolicy(true), { revision: 'rev-unsigned' });

/** Rewrites one file of a bundle (or adds one), keeping everything else, including the signature. */
async function tampered(bundle: string, name: string, content: string): Promise<Buffer> {
  const extract = tar.extract();
  const pack = tar.pack();
  let found = false;
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      const body = header.name.replace(/^\//, '') === name ? ((found = true), Buffer.from(content)) : Buffer.concat(chunks);
      pack.entry({ ...header, size: body.length }, body, next);
    });
  });
  const out: Buffer[] = [];
  pack.on('data', (c: unknown) => out.push(c as Buffer));
  await new Promise<void>((resolve) => {
    extract.on('finish', () => {
      if (!found) pack.entry({ name: `/${name}` }, content);
      pack.finalize();
    });
    pack.on('end', resolve);
    extract.end(gunzipSync(readFileSync(bundle)));
  });
  return gzipSync(Buffer.concat(out));
}

const writeTemp = (name: string, bytes: Buffer | string): string => {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
};

describe('signed bundles', () => {
  test('a bundle signed by a trusted key loads', async () => {
    const bundle = await readBundleFile(signedAllow, { verification });
    expect(bundle.revision).toBe('rev-allow');
  });

  test.each([
    ['a file edited after signing', () => tampered(signedAllow, 'data.json', '{"fhirgw":{"config":{"evil":true}}}'), /does not match its signature/],
    ['a file added after signing', () => tampered(signedAllow, 'extra.rego', 'package extra\n'), /does not list/],
    ['a policy file replaced', () => tampered(signedAllow, 'request.rego', 'package fhirgw.request\n\ndecision := {"allow": true}\n'), /does not match its signature/],
  ])('%s is refused', async (_name, make, message) => {
    await expect(readBundleFile(writeTemp(`t-${Math.random()}.tar.gz`, await make()), { verification })).rejects.toThrow(message);
  });

  test('a bundle signed by another key, or claiming the trusted key id with another key, is refused', async () => {
    const strangerKeyId = buildTestBundle(trivialPolicy(true), { signing: { keyFile: stranger.priv, algorithm: 'RS256', keyId: 'stranger' } });
    await expect(readBundleFile(strangerKeyId, { verification })).rejects.toThrow(/key the gateway does not trust/);
    const impostor = buildTestBundle(trivialPolicy(true), { signing: { keyFile: stranger.priv, algorithm: 'RS256', keyId: 'release-1' } });
    await expect(readBundleFile(impostor, { verification })).rejects.toThrow(/does not verify/);
  });

  test('an unsigned bundle is refused when signatures are required, and a wrong scope too', async () => {
    await expect(readBundleFile(unsignedAllow, { verification })).rejects.toThrow(/not signed/);
    await expect(readBundleFile(signedAllow, { verification: { ...verification, scope: 'production' } })).rejects.toThrow(/another scope/);
  });
});

describe('hot reload from a watched file', () => {
  let stack: Stack;
  afterAll(() => stack?.close());

  test('a new bundle takes over without a restart; a bad one is rejected and the last good one stays', async () => {
    const active = writeTemp('active.tar.gz', readFileSync(signedAllow));
    stack = await startStack({
      config: (c) => ({ ...c, policy: { bundle: active, watchIntervalMs: 100, signing: { keys: [{ id: 'release-1', algorithm: 'RS256', publicKeyFile: trusted.pub }] } } }),
    });
    const token = await tokensFor(stack.issuer).clinician();
    const status = async () => (await stack.fetch('Patient/pat-alba', { token })).status;
    expect(await status()).toBe(200);
    expect(await metric(stack, /^fhirgw_policy_bundle_info\{bundle="enforcing",revision="rev-allow"\} (\d+)$/m)).toBe(1);

    copyFileSync(signedDeny, active);
    await eventually(status, (s) => s === 403, 'the deny bundle to take over');
    expect(await metric(stack, /^fhirgw_policy_bundle_info\{bundle="enforcing",revision="rev-deny"\} (\d+)$/m)).toBe(1);
    expect(await metric(stack, /^fhirgw_policy_bundle_info\{bundle="enforcing",revision="rev-allow"\} (\d+)$/m)).toBe(0);

    // An unsigned bundle, then garbage: both rejected, counted, and the deny bundle stays in force.
    copyFileSync(unsignedAllow, active);
    await eventually(() => metric(stack, /^fhirgw_policy_bundle_loads_total\{bundle="enforcing",result="failure"\} (\d+)$/m), (n) => n >= 1, 'the unsigned bundle to be rejected');
    writeFileSync(active, 'not a bundle at all');
    await eventually(() => metric(stack, /^fhirgw_policy_bundle_loads_total\{bundle="enforcing",result="failure"\} (\d+)$/m), (n) => n >= 2, 'the garbage to be rejected');
    expect(await status()).toBe(403);
    expect((await fetch(`${new URL(stack.base).origin}/readyz`)).status).toBe(200);
  });
});

describe('an OPA bundle service', () => {
  test('is polled with If-None-Match; a new bundle takes over; an outage keeps the last good one; it is not ready before the first load', async () => {
    let current: { etag: string; bytes: Buffer } | null = null; // down at first
    const seen: Array<string | undefined> = [];
    const service = http.createServer((req, res) => {
      seen.push(req.headers['if-none-match']);
      if (current === null) {
        res.writeHead(503).end();
      } else if (req.headers['if-none-match'] === current.etag) {
        res.writeHead(304).end();
      } else {
        res.writeHead(200, { etag: current.etag, 'content-type': 'application/gzip' }).end(current.bytes);
      }
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/bundles/fhirgw`;
    const stack = await startStack({ start: { env: {} }, config: (c) => ({ ...c, policy: { service: { url, pollSeconds: 1 } } }) });
    try {
      const token = await tokensFor(stack.issuer).clinician();
      const origin = new URL(stack.base).origin;
      expect((await fetch(`${origin}/readyz`)).status).toBe(503);
      expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(503);

      current = { etag: '"allow-1"', bytes: readFileSync(unsignedAllow) };
      await eventually(async () => (await stack.fetch('Patient/pat-alba', { token })).status, (s) => s === 200, 'the first bundle');
      expect((await fetch(`${origin}/readyz`)).status).toBe(200);
      await eventually(async () => seen.filter((t) => t === '"allow-1"').length, (n) => n >= 1, 'a conditional poll');

      current = null; // the service goes down: the allow bundle stays
      const pollsBefore = seen.length;
      await eventually(async () => seen.length, (n) => n > pollsBefore, 'a failed poll');
      expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(200);

      current = { etag: '"deny-2"', bytes: readFileSync(buildTestBundle(trivialPolicy(false), { revision: 'svc-deny' })) };
      await eventually(async () => (await stack.fetch('Patient/pat-alba', { token })).status, (s) => s === 403, 'the new bundle');
    } finally {
      await stack.close();
      await new Promise<void>((r) => service.close(() => r()));
    }
  });
});

describe('a reload in the middle of a request', () => {
  test('the request finishes with the policy it started with', async () => {
    const active = writeTemp('midflight.tar.gz', readFileSync(unsignedAllow));
    let release: () => void = () => {};
    const upstream = http.createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/fhir/Consent?')) {
        // The gateway reads the patient's consents for the response decision: none on file.
        res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: 0 }));
        return;
      }
      // Hold the answer until the test has swapped the policy.
      release = () => res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify({ resourceType: 'Patient', id: 'pat-alba' }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const stack = await startStack({
      config: (c) => ({ ...c, upstream: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/fhir` }, policy: { bundle: active, watchIntervalMs: 100 } }),
    });
    try {
      const token = await tokensFor(stack.issuer).clinician();
      const inFlight = stack.fetch('Patient/pat-alba', { token });
      await eventually(async () => release.toString().includes('writeHead'), Boolean, 'the request to reach the upstream');
      copyFileSync(buildTestBundle(trivialPolicy(false), { revision: 'swapped' }), active);
      await eventually(() => metric(stack, /^fhirgw_policy_bundle_info\{bundle="enforcing",revision="swapped"\} (\d+)$/m), (n) => n === 1, 'the swap');
      expect((await stack.fetch('Observation', { token })).status).toBe(403); // new requests get the new policy
      release();
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect((await jsonOf(res)).id).toBe('pat-alba');
    } finally {
      await stack.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });
});

describe('shadow mode', () => {
  test('a candidate is evaluated on real traffic, disagreements are counted, only the enforcing policy decides', async () => {
    const shadow = buildTestBundle(trivialPolicy(false), { revision: 'candidate' });
    const stack = await startStack({ config: (c) => ({ ...c, policy: { shadow: { bundle: shadow } } }) });
    try {
      const token = await tokensFor(stack.issuer).clinician();
      const res = await stack.fetch('Observation?_count=3', { token });
      expect(res.status).toBe(200);
      expect((await jsonOf(res)).entry).toHaveLength(3);
      expect(await metric(stack, /^fhirgw_policy_shadow_disagreements_total\{stage="request",kind="decision"\} (\d+)$/m)).toBe(1);
      // Three released, and the look-ahead entry the gateway decides to know there is a next page.
      expect(await metric(stack, /^fhirgw_policy_shadow_disagreements_total\{stage="resource",kind="decision"\} (\d+)$/m)).toBe(4);
      expect(await metric(stack, /^fhirgw_policy_bundle_info\{bundle="shadow",revision="candidate"\} (\d+)$/m)).toBe(1);
    } finally {
      await stack.close();
    }
  });

  test('a candidate identical to the enforcing policy never disagrees', async () => {
    const stack = await startStack({ config: (c) => ({ ...c, policy: { shadow: { bundle: path.resolve('policies/dist/bundle.tar.gz') } } }) });
    try {
      const t = tokensFor(stack.issuer);
      for (const [token, p] of [[await t.clinician(), 'Observation'], [await t.patient('pat-alba'), 'Patient/pat-bruno'], [await t.researcher(), 'Patient']] as const) {
        await stack.fetch(p, { token });
      }
      expect(await metric(stack, /^fhirgw_policy_shadow_disagreements_total\{[^}]*\} (\d+)$/m)).toBe(0);
    } finally {
      await stack.close();
    }
  });
});

describe('deployment data', () => {
  test('a role exclusion in data (read_except) refuses the excluded type and nothing else, other roles unaffected', async () => {
    const data = writeTemp('site-exclusions.json', JSON.stringify({ fhirgw: { roles: { nurse: { read_except: ['Condition'] } } } }));
    const stack = await startStack({ config: (c) => ({ ...c, policy: { data } }) });
    try {
      const nurse = await stack.issuer.mint({ sub: 'Practitioner/prac-nurse', scope: 'user/*.rs', roles: ['nurse'] });
      const clinician = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
      for (const path of ['Condition', 'Condition/cond-pat-bruno']) {
        const refused = await stack.fetch(path, { token: nurse });
        expect({ path, status: refused.status, reasons: (await refused.json()).issue[0].details.coding.map((c: { code: string }) => c.code) }).toEqual({ path, status: 403, reasons: ['forbidden', 'role.type-not-permitted'] });
        expect({ path, status: (await stack.fetch(path, { token: clinician })).status }).toEqual({ path, status: 200 });
      }
      expect((await stack.fetch('Observation', { token: nurse })).status).toBe(200);
    } finally {
      await stack.close();
    }
  });

  test('a data file merged over the bundle changes the role tables without touching Rego, and is reloaded when edited', async () => {
    const data = writeTemp('site-data.json', JSON.stringify({ fhirgw: { roles: { researcher: { purposes: [] } } } }));
    const stack = await startStack({ config: (c) => ({ ...c, policy: { data, watchIntervalMs: 100 } }) });
    try {
      const noPurpose = await stack.issuer.mint({ sub: 'r2', scope: 'user/Patient.rs', roles: ['researcher'] });
      expect((await stack.fetch('Patient', { token: noPurpose })).status).toBe(200);
      writeFileSync(data, JSON.stringify({ fhirgw: { roles: { researcher: { purposes: ['HRESCH'] } } } }));
      await eventually(async () => (await stack.fetch('Patient', { token: noPurpose })).status, (s) => s === 403, 'the edited data file');
    } finally {
      await stack.close();
    }
  });
});
