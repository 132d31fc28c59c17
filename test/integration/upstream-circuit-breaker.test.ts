/**
 * The circuit breaker in front of the upstream: a failing upstream stops being called (clients get
 * 503 at once instead of waiting on a dead server), one probe is let through after the open period,
 * and the circuit closes by itself once the upstream answers again. Failures a client can cause on
 * its own (a 500 for one bad request) never open it. A scripted server stands in for the upstream,
 * because the real engine cannot be made to fail on demand; it counts every request it receives.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { answer, hangUp, type Behaviour, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { auditRecordOf, jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';

const bruno = SYNTHETIC_PATIENTS[1]!;
const HALF_OPEN_AFTER_MS = 400;

let stack: Stack;
let upstream: ScriptedUpstream;
let token: string;

const patient = JSON.stringify({ resourceType: 'Patient', id: bruno.id, meta: { versionId: '1' }, name: [{ family: bruno.family }] });
const healthy: Behaviour = answer(200, { 'content-type': 'application/fhir+json', etag: 'W/"1"' }, patient);

beforeAll(async () => {
  upstream = await startScriptedUpstream(healthy);
  stack = await startStack({
    config: (c) => ({
      ...c,
      upstream: { ...c.upstream, url: upstream.url, timeoutMs: 2000, circuitBreaker: { failureRatio: 0.5, windowCalls: 4, minimumCalls: 4, halfOpenAfterMs: HALF_OPEN_AFTER_MS } },
      // Consents would be read from the scripted upstream too; these tests count only the forwarded calls.
      consent: { enabled: false },
    }),
  });
  token = await tokensFor(stack.issuer).clinician('user/*.cruds');
});
afterAll(async () => {
  await stack.close();
  await upstream.close();
});

const read = async () => {
  const res = await stack.fetch(`Patient/${bruno.id}`, { token });
  const body = await jsonOf(res);
  return { status: res.status, code: body.resourceType === 'OperationOutcome' ? (body.issue[0].details.coding[0].code as string) : null, id: body.id as string };
};
const metricsText = async () => (await fetch(`${new URL(stack.base).origin}/metrics`)).text();
const circuitState = async () => /fhirgw_upstream_circuit_state\{upstream="fhir",state="([a-z-]+)"\} 1\b/.exec(await metricsText())?.[1];
const pastHalfOpen = () => new Promise((r) => setTimeout(r, HALF_OPEN_AFTER_MS + 100));

describe('the upstream circuit breaker', () => {
  test('opens when most recent calls fail, stops calling the upstream, probes once, and closes when it recovers', async () => {
    expect(await circuitState()).toBe('closed');
    expect((await read()).status).toBe(200);

    // Down: three of the last four calls fail (> 50%), and the circuit opens.
    upstream.behave = hangUp;
    const hitsBefore = upstream.hits();
    const failing = [];
    for (let i = 0; i < 3; i++) failing.push(await read());
    expect(failing.map((r) => r.status)).toEqual([502, 502, 502]);
    // Each failing read reached the upstream; the first one twice, as a read that finds its pooled
    // connection reset is sent once more on a new one (the keep-alive race, upstream-answers.test.ts).
    const hitsWhenOpened = upstream.hits();
    expect(hitsWhenOpened - hitsBefore).toBe(4);
    expect(await circuitState()).toBe('open');

    // Open: answered 503 at once, nothing sent upstream, for reads and for the reads behind a write.
    const refused = [];
    for (let i = 0; i < 5; i++) refused.push(await read());
    expect(refused.map((r) => [r.status, r.code])).toEqual(Array(5).fill([503, 'upstream_circuit_open']));
    const write = await stack.fetch(`Patient/${bruno.id}`, { method: 'PUT', token, headers: { 'content-type': 'application/fhir+json' }, body: patient });
    expect(write.status).toBe(503);
    expect((await jsonOf(write)).issue[0].details.coding[0].code).toBe('upstream_circuit_open');
    expect(upstream.hits()).toBe(hitsWhenOpened);
    expect(await metricsText()).toMatch(/^fhirgw_upstream_circuit_rejections_total\{upstream="fhir"\} 6$/m);
    // ...and each is counted as an upstream error, so the error-rate alert stays firing through an outage.
    expect(await metricsText()).toMatch(/^fhirgw_upstream_errors_total\{kind="circuit_open"\} 6$/m);
    const record = await auditRecordOf(stack, refused[0]!.id);
    expect(record.outcome).toMatchObject({ status: 503, error: 'upstream_circuit_open', reasons: ['upstream.circuit-open'] });

    // Half-open while still down: one probe goes through, fails, and the circuit opens again.
    await pastHalfOpen();
    expect((await read()).status).toBe(502);
    expect(upstream.hits()).toBe(hitsWhenOpened + 1);
    expect((await read()).status).toBe(503);
    expect(upstream.hits()).toBe(hitsWhenOpened + 1);

    // Recovered: the next probe succeeds and the circuit closes by itself.
    upstream.behave = healthy;
    await pastHalfOpen();
    expect((await read()).status).toBe(200);
    expect(await circuitState()).toBe('closed');
    const after = [];
    for (let i = 0; i < 3; i++) after.push((await read()).status);
    expect(after).toEqual([200, 200, 200]);
  });

  test('while the probe is in flight the other calls wait for it instead of reaching the upstream', async () => {
    upstream.behave = hangUp;
    for (let i = 0; i < 4; i++) await read();
    expect(await circuitState()).toBe('open');
    await pastHalfOpen();

    let probeDone = false;
    const arrivals: boolean[] = [];
    upstream.behave = (req, res) => {
      arrivals.push(probeDone);
      setTimeout(() => {
        healthy(req, res);
        probeDone = true;
      }, 200);
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => read()));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    // The first arrival is the probe; every other call reached the upstream only after it had succeeded.
    expect(arrivals).toEqual([false, true, true, true, true]);
    upstream.behave = healthy;
  });

  test('a client cannot open the circuit with requests that make the upstream answer 500', async () => {
    upstream.behave = answer(500, { 'content-type': 'application/fhir+json' }, JSON.stringify({ resourceType: 'OperationOutcome', issue: [] }));
    const hitsBefore = upstream.hits();
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await read()).status);
    expect(statuses).toEqual(Array(12).fill(502));
    expect(upstream.hits() - hitsBefore).toBe(12);
    expect(await circuitState()).toBe('closed');
    upstream.behave = healthy;
  });
});
