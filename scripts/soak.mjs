#!/usr/bin/env node
/**
 * Soak test (issue 10, point 6): the gateway as a separate process (`fhir-gateway serve`, the
 * built dist/), in front of Medplum's in-memory FHIR engine with synthetic patients and a token
 * issuer (both in this process), under a steady open-loop rate of a mixed workload: patient reads
 * and searches, refusals, clinician searches and batches, researcher de-identification, updates,
 * metadata and unauthenticated calls, each with the status it must get.
 *
 * Every interval it records the gateway's resident memory, heap, policy WebAssembly memory and
 * event-loop delay (from its own
 * /metrics, so the numbers are the gateway's alone), the interval's p99 latency, requests and
 * errors. It passes when there were no errors, resident memory does not grow beyond noise and p99
 * stays in line with the start (scripts/lib/soak-verdict.mjs); it writes soak.json and soak.svg.
 *
 *   npm run soak                                          30 minutes, a sample a minute
 *   npm run soak -- --minutes 2 --interval 10 --warmup 60 --rss-floor-mib 64 the CI version
 *
 * Options: --minutes (30) --interval seconds (60) --warmup seconds before measuring (60)
 * --rate requests/s (40) --out dir (soak-report) --rss-floor-mib (16: RSS growth over the run below
 * this never fails; the 2-minute CI run uses 64, as a busy machine moves RSS by tens of MiB for a
 * while, so only the 30-minute run judges small leaks). Exit 0 pass, 1 fail.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startFhirServer } from '../dist/devkit/fhir-server.js';
import { freePort } from '../dist/devkit/ports.js';
import { seedSyntheticData, SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER } from '../dist/devkit/synthetic-data.js';
import { startTokenIssuer } from '../dist/devkit/token-issuer.js';
import { soakVerdict } from './lib/soak-verdict.mjs';
import { svgChart } from './lib/svg-plot.mjs';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    interval: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '60' },
    rate: { type: 'string', default: '40' },
    out: { type: 'string', default: 'soak-report' },
    'rss-floor-mib': { type: 'string', default: '16' },
  },
});
const MINUTES = Number(args.minutes);
const INTERVAL_S = Number(args.interval);
const WARMUP_S = Number(args.warmup);
const RATE = Number(args.rate);
/** Requests in flight beyond this mean the gateway is not keeping up: counted as errors, not queued. */
const MAX_IN_FLIGHT = Math.max(50, RATE * 5);

const log = (msg) => process.stdout.write(`[soak] ${msg}\n`);

// ---------- the stack ----------

const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-soak-'));
const fhir = await startFhirServer();
await seedSyntheticData(fhir.repo, { extraPatients: 20 });
const port = await freePort();
const base = `http://127.0.0.1:${port}/fhir`;
const issuer = await startTokenIssuer({ audience: base });
const configFile = path.join(dir, 'gateway.yaml');
writeFileSync(
  configFile,
  JSON.stringify({
    listen: { host: '127.0.0.1', port },
    publicBaseUrl: base,
    upstream: { url: fhir.baseUrl, timeoutMs: 10000 },
    auth: { issuer: issuer.issuer },
    audit: { sinks: [{ type: 'file', path: path.join(dir, 'audit.jsonl'), rotate: { maxBytes: 64 * 1024 * 1024 } }] },
    log: { level: 'warn' },
  }),
);
mkdirSync(args.out, { recursive: true });
const gatewayLog = createWriteStream(path.join(args.out, 'gateway.log'));
const gateway = spawn(process.execPath, ['dist/cli.js', 'serve', '--config', configFile], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
gateway.stdout.pipe(gatewayLog);
gateway.stderr.pipe(gatewayLog);
let gatewayExited = false;
gateway.on('exit', (code) => {
  gatewayExited = true;
  if (!stopping) log(`the gateway exited unexpectedly (${code})`);
});
let stopping = false;
// The gateway never outlives the soak, however it ends.
process.on('exit', () => gateway.kill('SIGKILL'));
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void shutdown().finally(() => process.exit(130)));

async function shutdown() {
  stopping = true;
  if (!gatewayExited) {
    gateway.kill('SIGTERM');
    await new Promise((r) => (gatewayExited ? r() : gateway.once('exit', r)));
  }
  await issuer.close();
  await fhir.close();
  rmSync(dir, { recursive: true, force: true });
}

const origin = new URL(base).origin;
for (let i = 0; ; i++) {
  const ready = await fetch(`${origin}/readyz`).then((r) => r.ok, () => false);
  if (ready) break;
  if (i > 300 || gatewayExited) {
    await shutdown();
    throw new Error('the gateway did not become ready');
  }
  await new Promise((r) => setTimeout(r, 100));
}

// ---------- the workload ----------

const [alba, bruno] = SYNTHETIC_PATIENTS;
const long = { expiresInSeconds: MINUTES * 60 + WARMUP_S + 3600 };
const patient = await issuer.mint({ sub: `Patient/${alba.id}`, scope: 'launch/patient patient/*.rs', patient: alba.id, roles: ['patient'] }, long);
const clinician = await issuer.mint({ sub: `Practitioner/${SYNTHETIC_PRACTITIONER.id}`, scope: 'user/*.cruds', roles: ['clinician'], purpose_of_use: ['TREAT'] }, long);
const researcher = await issuer.mint({ sub: 'researcher-1', scope: 'user/Patient.rs user/Observation.rs', roles: ['researcher'], purpose_of_use: ['HRESCH'] }, long);
/**
 * Updates rotate over 80 Observations (20 patients, 4 each), so one resource is updated about every
 * half minute: two concurrent updates of one resource race into 412 by design (optimistic locking).
 */
const updated = (i) => {
  const k = Math.floor(i / schedule.length);
  return { patient: `pat-gen-${1 + (k % 20)}`, id: `obs-pat-gen-${1 + (k % 20)}-${Math.floor(k / 20) % 4}` };
};
const observation = (i) => ({
  resourceType: 'Observation',
  id: updated(i).id,
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: `Patient/${updated(i).patient}` },
  valueQuantity: { value: 60 + (i % 40), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});
const json = { 'content-type': 'application/fhir+json' };

/** [name, weight, (i) => request, expected status] */
const WORKLOAD = [
  ['patient read own', 4, () => ({ path: `Patient/${alba.id}`, token: patient }), 200],
  ['patient search', 4, () => ({ path: 'Observation?_count=20', token: patient }), 200],
  ['patient read other', 1, () => ({ path: `Patient/${bruno.id}`, token: patient }), 403],
  ['clinician search', 3, (i) => ({ path: `Observation?subject=Patient/pat-gen-${1 + (i % 20)}&_count=20`, token: clinician }), 200],
  ['researcher search', 2, () => ({ path: 'Patient?_count=10', token: researcher }), 200],
  ['clinician batch', 1, () => ({ path: '', token: clinician, method: 'POST', headers: json, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [`Patient/${alba.id}`, 'Observation?code=8867-4&_count=5', `Encounter/enc-${bruno.id}`].map((url) => ({ request: { method: 'GET', url } })) }) }), 200],
  ['clinician update', 1, (i) => ({ path: `Observation/${updated(i).id}`, token: clinician, method: 'PUT', headers: json, body: JSON.stringify(observation(i)) }), 200],
  ['metadata', 1, () => ({ path: 'metadata' }), 200],
  ['no token', 1, () => ({ path: `Patient/${alba.id}` }), 401],
];
const schedule = WORKLOAD.flatMap((w) => Array(w[1]).fill(w));

let current = newInterval();
function newInterval() {
  return { latencies: [], requests: 0, errors: 0, kinds: {} };
}

let inFlight = 0;
async function fire(i) {
  const [name, , build, expected] = schedule[i % schedule.length];
  if (inFlight >= MAX_IN_FLIGHT) {
    current.errors++;
    current.kinds['backlog'] = (current.kinds['backlog'] ?? 0) + 1;
    return;
  }
  const { path: p, token, method = 'GET', headers = {}, body } = build(i);
  const interval = current;
  inFlight++;
  const started = performance.now();
  try {
    const res = await fetch(`${base}/${p}`, { method, headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });
    await res.arrayBuffer();
    interval.latencies.push(performance.now() - started);
    if (res.status !== expected) {
      interval.errors++;
      interval.kinds[`${name}: ${res.status}`] = (interval.kinds[`${name}: ${res.status}`] ?? 0) + 1;
    }
  } catch (err) {
    interval.errors++;
    interval.kinds[`${name}: ${err.code ?? err.name}`] = (interval.kinds[`${name}: ${err.code ?? err.name}`] ?? 0) + 1;
  } finally {
    interval.requests++;
    inFlight--;
  }
}

/** Open loop: requests are sent on schedule whether or not earlier ones have been answered. */
function runLoad(untilMs) {
  return new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    const tick = () => {
      const now = performance.now();
      const due = Math.floor(((now - start) / 1000) * RATE);
      while (sent < due) void fire(sentTotal + sent++);
      if (now - start >= untilMs) {
        sentTotal += sent;
        resolve();
        return;
      }
      setTimeout(tick, 5);
    };
    tick();
  });
}
let sentTotal = 0;

async function gatewayGauges() {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const gauge = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssBytes: gauge('process_resident_memory_bytes'),
    heapBytes: gauge('nodejs_heap_size_used_bytes'),
    loopP99Ms: gauge('nodejs_eventloop_lag_p99_seconds') * 1000,
    openFds: gauge('process_open_fds'),
    wasmBytes: gauge('fhirgw_policy_wasm_memory_bytes'),
  };
}

const percentile = (values, p) => {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

// ---------- the run ----------

log(`gateway pid ${gateway.pid} at ${base}; ${RATE} req/s; warm-up ${WARMUP_S} s, then ${MINUTES} min sampled every ${INTERVAL_S} s`);
const samples = [];
const startedAt = Date.now();
const warmupSamples = Math.round(WARMUP_S / INTERVAL_S);
const total = warmupSamples + Math.round((MINUTES * 60) / INTERVAL_S);
for (let n = 0; n < total && !gatewayExited; n++) {
  current = newInterval();
  await runLoad(INTERVAL_S * 1000);
  const interval = current;
  // Let this interval's last requests finish before they are counted.
  for (let w = 0; w < 200 && inFlight > 0; w++) await new Promise((r) => setTimeout(r, 10));
  const gauges = await gatewayGauges();
  const sample = {
    minute: (Date.now() - startedAt) / 60000,
    warmup: n < warmupSamples,
    ...gauges,
    p50Ms: percentile(interval.latencies, 50),
    p99Ms: percentile(interval.latencies, 99),
    requests: interval.requests,
    errors: interval.errors,
    errorKinds: interval.kinds,
  };
  samples.push(sample);
  log(
    `${sample.minute.toFixed(1)} min${sample.warmup ? ' (warm-up)' : ''}: rss ${(sample.rssBytes / 1048576).toFixed(1)} MiB, heap ${(sample.heapBytes / 1048576).toFixed(1)} MiB, ` +
      `wasm ${(sample.wasmBytes / 1048576).toFixed(1)} MiB, loop p99 ${sample.loopP99Ms.toFixed(1)} ms, p50 ${sample.p50Ms.toFixed(1)} ms, p99 ${sample.p99Ms.toFixed(1)} ms, ${sample.requests} requests, ${sample.errors} errors` +
      (sample.errors ? ` ${JSON.stringify(sample.errorKinds)}` : ''),
  );
}

const verdict = gatewayExited
  ? { pass: false, failures: ['the gateway exited during the run'], errors: NaN, rss: null, p99: null }
  : soakVerdict(samples, { warmupSamples, minGrowthBytes: Number(args['rss-floor-mib']) * 1024 * 1024 });
await shutdown();

const report = { options: { minutes: MINUTES, intervalSeconds: INTERVAL_S, warmupSeconds: WARMUP_S, rate: RATE }, verdict, samples };
writeFileSync(path.join(args.out, 'soak.json'), JSON.stringify(report, null, 2));
const x = samples.map((s) => s.minute);
const band = warmupSamples > 0 && samples.length > warmupSamples ? [0, (samples[warmupSamples - 1].minute + samples[warmupSamples].minute) / 2] : undefined;
writeFileSync(
  path.join(args.out, 'soak.svg'),
  svgChart({
    title: `fhir-privacy-gateway soak: ${RATE} req/s, ${verdict.pass ? 'PASS' : 'FAIL'} (grey: warm-up)`,
    x,
    xLabel: 'minutes',
    panels: [
      { label: 'resident memory (MiB)', values: samples.map((s) => s.rssBytes / 1048576), band },
      { label: 'heap used (MiB)', values: samples.map((s) => s.heapBytes / 1048576), color: '#2ca02c', band },
      { label: 'policy WebAssembly memory (MiB)', values: samples.map((s) => s.wasmBytes / 1048576), color: '#8c564b', band },
      { label: 'event-loop delay p99 (ms)', values: samples.map((s) => s.loopP99Ms), color: '#9467bd', band },
      { label: 'request latency p99 (ms)', values: samples.map((s) => s.p99Ms), color: '#ff7f0e', band },
      { label: 'errors per interval', values: samples.map((s) => s.errors), color: '#d62728', band },
    ],
  }),
);
if (verdict.rss) log(`rss slope ${(verdict.rss.slopeBytesPerMinute / 1024).toFixed(0)} KiB/min ± ${(verdict.rss.standardError / 1024).toFixed(0)} (${(verdict.rss.growthOverWindowBytes / 1048576).toFixed(1)} MiB over the run, ${(verdict.rss.growthPerHourBytes / 1048576).toFixed(1)} MiB/hour projected)`);
if (verdict.p99) log(`p99 ${verdict.p99.earlyMs.toFixed(1)} ms early, ${verdict.p99.lateMs.toFixed(1)} ms late (limit ${verdict.p99.limitMs.toFixed(1)} ms)`);
log(`${verdict.pass ? 'PASS' : 'FAIL'}${verdict.failures.length ? `: ${verdict.failures.join('; ')}` : ''}; report in ${args.out}/soak.json and soak.svg`);
process.exit(verdict.pass ? 0 : 1);
