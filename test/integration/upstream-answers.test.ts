/**
 * What the upstream sends is treated as hostile: compressed answers are decoded before they are
 * enforced, answers the gateway cannot read fail closed, and an error while enforcing never
 * releases the unfiltered body. A scripted HTTP server stands in for a misbehaving FHIR server
 * (the real engine does not misbehave on demand); the gzip case uses the real engine.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { BATCH_WRAPPER, buildTestBundle } from '../support/opa.js';
import { jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];

describe('a FHIR server that gzips whatever it is asked', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ fhir: { forceGzip: true } });
  });
  afterAll(() => stack.close());

  test('answers are decoded, then filtered like any other', async () => {
    const token = await tokensFor(stack.issuer).patient(alba.id);
    const res = await stack.fetch('Observation', { token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBeNull();
    const text = await res.text();
    expect(JSON.parse(text).entry).toHaveLength(4);
    expect(text).not.toContain(bruno.family);
    expect((await stack.fetch(`Observation/obs-${bruno.id}-0`, { token })).status).toBe(404);
  });
});

describe('answers the gateway cannot check', () => {
  let stack: Stack;
  let reply: { status: number; headers: Record<string, string>; body: Buffer | string } = { status: 200, headers: {}, body: '' };
  let fake: http.Server;
  beforeAll(async () => {
    fake = http.createServer((req, res) => {
      req.resume();
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/fhir`;
    stack = await startStack({ config: (c) => ({ ...c, upstream: { ...c.upstream, url } }) });
  });
  afterAll(async () => {
    await stack.close();
    await new Promise<void>((r) => fake.close(() => r()));
  });

  const secret = `${bruno.given} ${bruno.family} ${bruno.mrn}`;
  test.each([
    ['HTML', { 'content-type': 'text/html' }, `<html>${secret}</html>`, 502],
    ['plain text', { 'content-type': 'text/plain' }, secret, 502],
    ['no content type', {}, JSON.stringify({ resourceType: 'Patient', id: bruno.id, name: [{ family: bruno.family }] }), 502],
    ['truncated JSON', { 'content-type': 'application/fhir+json' }, `{"resourceType":"Patient","name":[{"family":"${bruno.family}"`, 502],
    ['JSON that is not a resource', { 'content-type': 'application/json' }, JSON.stringify({ patient: secret }), 502],
    ['an unknown content-encoding', { 'content-type': 'application/fhir+json', 'content-encoding': 'zstd' }, secret, 502],
    ['a gzip bomb beyond the size bound', { 'content-type': 'application/fhir+json', 'content-encoding': 'gzip' }, gzipSync(Buffer.alloc(80 * 1024 * 1024, 32)), 502],
    ['a 500 with internals', { 'content-type': 'application/fhir+json' }, JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: `SQL error near ${secret} at db01.internal:5432` }] }), 502],
  ])('%s fails closed with an OperationOutcome and none of the upstream text', async (_name, headers, body, status) => {
    reply = { status: _name === 'a 500 with internals' ? 500 : 200, headers, body };
    const res = await stack.fetch(`Patient/${bruno.id}`, { token: await tokensFor(stack.issuer).clinician() });
    expect(res.status).toBe(status);
    const text = await res.text();
    expect(JSON.parse(text).resourceType).toBe('OperationOutcome');
    for (const fragment of [bruno.family, bruno.mrn, 'db01.internal', 'SQL']) expect(text).not.toContain(fragment);
  });
});

describe('an error while enforcing', () => {
  test('returns an error, never the unfiltered upstream body', async () => {
    // A resource rule that conflicts at runtime for any resource with an id: evaluation aborts.
    const bundle = buildTestBundle({
      'request.rego': 'package fhirgw.request\n\ndecision := {"allow": true}\n',
      'resource.rego': 'package fhirgw.resource\n\ndecision := {"allow": true} if input.resource.id\n\ndecision := {"allow": false} if input.resource.resourceType\n',
      'resources.rego': BATCH_WRAPPER,
    });
    const stack = await startStack({ config: (c) => ({ ...c, policy: { bundle } }) });
    try {
      const res = await stack.fetch('Patient', { token: await tokensFor(stack.issuer).clinician() });
      expect(res.status).toBe(500);
      const body = await jsonOf(res);
      expect(body.issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['policy_error', expect.stringMatching(/^policy\./)]);
      for (const p of SYNTHETIC_PATIENTS) expect(JSON.stringify(body)).not.toContain(p.family);
    } finally {
      await stack.close();
    }
  });
});
