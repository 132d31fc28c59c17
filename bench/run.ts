/**
 * `npm run bench`: the gateway against the alternatives, side by side, in one run on one machine.
 *
 * Starts, each in its own process: the upstream (Medplum's engine with synthetic data), a bare
 * Node passthrough proxy, the gateway (in-process WASM policy), the same gateway asking an OPA
 * server for each decision (and that OPA server), and the gateway on two processes. A token
 * issuer runs here. Then, for every scenario and round, each target in turn (interleaved, so a
 * noisy neighbour hits all alike) gets a warm-up and a measured run of autocannon from a separate
 * process, while CPU time and peak memory are read from /proc. Adds the NDJSON export, the
 * in-process costs (enforce stage, per decision), the scaling and memory figures, and reads at a
 * fixed rate (twice the rate at which the gateway would use half a core, from its CPU per read in
 * this run); writes bench/results/<date>.{json,md,svg}, <date>-linearity.svg and the README
 * table; judges issue 21's budgets.
 *
 *   npm run bench                       full run (about 12 minutes)
 *   npm run bench -- --quick            short run (about 5 to 7 minutes on the shared 2-core VM); results named <date>-quick
 *   --smoke                             the harness end to end in seconds (the test suite's check)
 *   options: --rounds N --warmup S --duration S --connections N --patients N --bulk-mb N
 *            --scenarios read,search-100 --targets gateway,bare --out DIR --no-readme --no-scaling --no-floor
 *            --load-seconds S --load-connections N --no-load (the fixed-rate read run of issue 21)
 *            --cpu-prof DIR (the gateway processes write V8 CPU profiles there when they stop)
 *            --gateway-node-options "--max-old-space-size=1024 --max-semi-space-size=16" (the default; "" for none) --keep-logs
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_POLICY_BUNDLE } from '../src/config/load.js';
import { createOpaHttpEngine } from '../src/devkit/opa-http-engine.js';
import { startOpaServer, type RunningOpaServer } from '../src/devkit/opa-server.js';
import { freePort } from '../src/devkit/ports.js';
import { startTokenIssuer } from '../src/devkit/token-issuer.js';
import type { FhirResourceJson } from '../src/policy/contract.js';
import { readBundleFile } from '../src/policy/bundle.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { aggregate, floorOf, ratiosOf, scalingOf, type RawRound } from './lib/aggregate.js';
import { evaluateBudgets, LOAD, r50Of } from './lib/budgets.js';
import { measureDecisions, measureEnforce, PRINCIPAL_CLAIMS } from './lib/in-process.js';
import { linearityOf } from './lib/linearity.js';
import type { BenchConditions, BenchRun, BulkResult, ConnectionMemory, LoadResult, Machine, ScenarioResult, TargetId } from './lib/model.js';
import { cpuMs, peakRssMb, resetPeakRss, rssMb } from './lib/proc.js';
import { linearitySvgName, renderLinearitySvg, renderMarkdown, renderReadmeTable, renderSvg, withReadmeTable } from './lib/report.js';
import { SCENARIOS, type Role, type Scenario } from './lib/scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PUBLIC_BASE = 'https://fhir.bench.example/fhir';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    patients: { type: 'string' },
    'bulk-mb': { type: 'string' },
    scenarios: { type: 'string' },
    out: { type: 'string' },
    'no-readme': { type: 'boolean', default: false },
    'no-scaling': { type: 'boolean', default: false },
    'no-floor': { type: 'boolean', default: false },
    targets: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'gateway-node-options': { type: 'string' },
    'keep-logs': { type: 'boolean', default: false },
    'load-seconds': { type: 'string' },
    'load-connections': { type: 'string' },
    'no-load': { type: 'boolean', default: false },
  },
});
/**
 * Node options of the gateway processes. A heap limit as a container would give (Node derives it
 * from a cgroup memory limit; this VM has none, so Node would size the heap for its 24 GB and
 * collect garbage lazily, which shows as RSS, not as live memory), and the young generation's
 * semi-spaces at 16 MB, as k8s/ runs it (Node 24 would otherwise hold about 70 MB more): see
 * docs/performance.md.
 */
const gatewayNodeOptions = (args['gateway-node-options'] ?? '--max-old-space-size=1024 --max-semi-space-size=16').split(' ').filter((o) => o !== '');
/** --smoke: the harness end to end in seconds (test/integration/bench-smoke.test.ts), measuring nothing worth reading. */
const smoke = args.smoke === true;
const quick = args.quick === true || smoke;
const opt = (value: string | undefined, full: number, fast: number): number => (value === undefined ? (quick ? fast : full) : Number(value));
const conditions = {
  mode: quick ? 'quick' : 'full',
  rounds: opt(args.rounds, 3, 1),
  warmupSeconds: opt(args.warmup, 2, smoke ? 0 : 1),
  durationSeconds: opt(args.duration, 5, smoke ? 0.5 : 2),
  connections: opt(args.connections, 10, 10),
  patients: opt(args.patients, 253, 253),
  bulkTargetMb: opt(args['bulk-mb'], 220, smoke ? 1 : 20),
} as const;
/** The fixed-rate read run: long enough for a p99 of thousands of responses (a smoke run only exercises it). */
const loadRun = { seconds: opt(args['load-seconds'], 10, smoke ? 0.5 : 5), connections: opt(args['load-connections'], LOAD.connections, LOAD.connections) } as const;
const scenarioIds = args.scenarios?.split(',') ?? (smoke ? ['read'] : null);
const scenarios = scenarioIds ? SCENARIOS.filter((s) => scenarioIds.includes(s.id)) : SCENARIOS;
/** How many times the in-process costs are measured, and how many idle connections are held. */
const samples = smoke ? { enforce: 2, wasm: 50, sidecar: 20, connections: 20 } : quick ? { enforce: 10, wasm: 500, sidecar: 200, connections: 200 } : { enforce: 40, wasm: 5000, sidecar: 1000, connections: 1000 };
/** FHIRGW_BENCH_CODE: run the processes on src/ (through tsx) instead of the build, as the smoke test does. */
const childExecArgv = process.env['FHIRGW_BENCH_CODE'] ? ['--import', 'tsx'] : [];
const OBSERVATIONS_PER_PATIENT = 4;

const opaServers: RunningOpaServer[] = [];
const logDir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-bench-'));
const children: ChildProcess[] = [];
const log = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);

/** Forks a bench process with its output to files, and waits for its ready message. */
async function start<T>(script: string, options: unknown, name: string, execArgv: string[] = []): Promise<T & { child: ChildProcess }> {
  const out = openSync(path.join(logDir, `${name}.out`), 'a');
  const child = fork(path.join(ROOT, 'bench/processes', script), [JSON.stringify(options)], { stdio: ['ignore', out, out, 'ipc'], execArgv: [...childExecArgv, ...execArgv] });
  children.push(child);
  const message = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}; see ${path.join(logDir, `${name}.out`)}`)));
  });
  if (message['ready'] !== true) throw new Error(`${name} failed to start: ${String(message['error'])}`);
  return { ...(message as T), child };
}

interface Target {
  readonly id: TargetId;
  /** FHIR base the load goes to. */
  readonly base: string;
  /** Processes of the proxy (empty for direct). */
  readonly pids: readonly number[];
  readonly sidecarPid: number | null;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadStart = os.loadavg()[0] as number;
  log(`logs in ${logDir}`);

  // ---- the processes ----
  const upstream = await start<{ url: string; pid: number; observations: number; bulkRepeat: number; bulkBytes: number }>(
    'upstream.mjs',
    { patients: conditions.patients, observationsPerPatient: OBSERVATIONS_PER_PATIENT, bulkMb: conditions.bulkTargetMb },
    'upstream',
  );
  log(`upstream ${upstream.url}: ${upstream.observations} Observations, export file ${(upstream.bulkBytes / 1e6).toFixed(0)} MB`);
  const issuer = await startTokenIssuer({ audience: PUBLIC_BASE });
  const tokens: Record<Role | 'system' | 'systemResearch', string> = {
    clinician: await issuer.mint({ ...PRINCIPAL_CLAIMS.clinician }),
    clinicianLab: await issuer.mint({ ...PRINCIPAL_CLAIMS.clinicianLab }),
    researcher: await issuer.mint({ ...PRINCIPAL_CLAIMS.researcher }),
    system: await issuer.mint({ ...PRINCIPAL_CLAIMS.system }),
    systemResearch: await issuer.mint({ ...PRINCIPAL_CLAIMS.systemResearch }),
  };
  const bare = await start<{ url: string; pids: number[] }>('bare-proxy.mjs', { upstream: new URL(upstream.url).origin }, 'bare');
  const opaBinary = ((await import(path.join(ROOT, 'scripts/lib/opa.mjs'))) as { ensureOpa: () => string }).ensureOpa();
  const opa: RunningOpaServer = await startOpaServer({ opa: opaBinary, policies: path.join(ROOT, 'policies') });
  opaServers.push(opa);
  const gatewayOptions = async (workers: number, opaUrl: string | null) => ({
    workers,
    opaUrl,
    config: {
      listen: { host: '127.0.0.1', port: await freePort() },
      publicBaseUrl: PUBLIC_BASE,
      upstream: { url: upstream.url },
      auth: { issuer: issuer.issuer },
      policy: { bundle: DEFAULT_POLICY_BUNDLE },
    },
    // One link and pseudonym key for every process, as replicas of one deployment share them.
    env: { FHIRGW_BULK_LINK_KEY: Buffer.alloc(32, 1).toString('base64'), FHIRGW_PSEUDONYM_KEY: Buffer.alloc(32, 2).toString('base64') },
  });
  const profiling = [...(args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args['cpu-prof'])}`] : []), ...gatewayNodeOptions];
  const gateway = await start<{ url: string; pids: number[] }>('gateway.mjs', await gatewayOptions(1, null), 'gateway', profiling);
  const gatewayOpa = await start<{ url: string; pids: number[] }>('gateway.mjs', await gatewayOptions(1, opa.url), 'gateway-opa', profiling);
  const scaling = !args['no-scaling'] && !smoke;
  const gateway2 = scaling ? await start<{ url: string; pids: number[] }>('gateway.mjs', await gatewayOptions(2, null), 'gateway-2p') : null;
  const floor = !args['no-floor'] && !smoke ? await start<{ url: string; pids: number[] }>('stack-floor.mjs', { upstream: new URL(upstream.url).origin }, 'stack') : null;

  const allTargets: Target[] = [
    { id: 'direct', base: upstream.url, pids: [], sidecarPid: null },
    { id: 'bare', base: `${bare.url}/fhir`, pids: bare.pids, sidecarPid: null },
    { id: 'gateway', base: `${gateway.url}/fhir`, pids: gateway.pids, sidecarPid: null },
    { id: 'gateway-opa', base: `${gatewayOpa.url}/fhir`, pids: gatewayOpa.pids, sidecarPid: opa.pid },
  ];
  const targets = args.targets ? allTargets.filter((t) => args.targets!.split(',').includes(t.id)) : allTargets;
  const gatewayTarget = allTargets[2] as Target;
  const gateway2Target: Target | null = gateway2 ? { id: 'gateway-2p', base: `${gateway2.url}/fhir`, pids: gateway2.pids, sidecarPid: null } : null;
  const floorTarget: Target | null = floor ? { id: 'stack', base: `${floor.url}/fhir`, pids: floor.pids, sidecarPid: null } : null;
  await checkTargets([...allTargets, ...(gateway2Target ? [gateway2Target] : []), ...(floorTarget ? [floorTarget] : [])], tokens.clinician);

  // ---- in-process costs, while the machine is otherwise idle ----
  log('in-process costs: enforce stage, per-decision WASM vs OPA server');
  const engine = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: 2048 });
  const bundleText = await (await fetch(`${upstream.url}/Observation?_count=1000`)).text();
  const enforce = [];
  for (const role of ['clinician', 'researcher'] as const) {
    enforce.push(await measureEnforce({ role, bundleText, engine, upstreamBase: upstream.url, publicBase: PUBLIC_BASE, iterations: samples.enforce }));
  }
  const sidecar = createOpaHttpEngine({ url: opa.url, revision: engine.revision });
  const resources = ((JSON.parse(bundleText) as { entry: Array<{ resource: FhirResourceJson }> }).entry ?? []).map((e) => e.resource);
  const decisions = await measureDecisions({ wasm: engine, sidecar, opaPid: opa.pid, resources, upstreamBase: upstream.url, iterations: { wasm: samples.wasm, sidecar: samples.sidecar } });
  sidecar.close();

  // ---- load: scenarios x rounds x targets, interleaved ----
  const raw = new Map<string, RawRound[]>();
  const record = (scenario: string, target: TargetId, round: RawRound): void => {
    const key = `${scenario}\u0000${target}`;
    raw.set(key, [...(raw.get(key) ?? []), round]);
  };
  const entries = new Map<string, number | null>();
  for (const scenario of scenarios) {
    // How many entries each target's answer holds (linearity uses them; filtered paging must release a full page).
    for (const target of targets) entries.set(`${scenario.id}\u0000${target.id}`, await countEntries(target, scenario, tokens[scenario.role]));
    log(`${scenario.id}: entries ${targets.map((t) => `${t.id} ${entries.get(`${scenario.id}\u0000${t.id}`) ?? '?'}`).join(', ')}`);
    for (let round = 1; round <= conditions.rounds; round++) {
      const order = rotate(targets, round - 1);
      for (const target of order) {
        const r = await measureLoad(target, scenario, round, tokens[scenario.role], upstream.pid);
        record(scenario.id, target.id, r);
        log(`${scenario.id} round ${round} ${target.id}: ${r.rps.toFixed(0)} req/s, p50 ${r.latency.p50.toFixed(2)} ms, proxy CPU ${r.cpuMs.proxy?.toFixed(2) ?? '-'} ms/req${r.failures ? `, ${r.failures} failures` : ''}`);
      }
    }
  }
  // Scaling: one process against two, interleaved the same way.
  if (gateway2Target) {
    for (const scenario of scenarios.filter((s) => s.id === 'read' || s.id === 'search-100')) {
      for (let round = 1; round <= conditions.rounds; round++) {
        for (const target of rotate([gatewayTarget, gateway2Target], round - 1)) {
          const r = await measureLoad(target, scenario, round, tokens[scenario.role], upstream.pid);
          // The 1-process figures of the scaling comparison are kept apart from the main table's.
          record(`${scenario.id}\u0001scaling`, target.id, r);
          log(`scaling ${scenario.id} round ${round} ${target.id}: ${r.rps.toFixed(0)} req/s`);
        }
      }
    }
  }

  // The floor of the design card's stack: the bare proxy, express + http-proxy-middleware with the
  // answer parsed and re-serialised, and the gateway, interleaved the same way.
  if (floorTarget) {
    const bareTarget = allTargets[1] as Target;
    for (const scenario of scenarios.filter((s) => s.id === 'read' || s.id === 'search-100')) {
      for (let round = 1; round <= conditions.rounds; round++) {
        for (const target of rotate([bareTarget, floorTarget, gatewayTarget], round - 1)) {
          const r = await measureLoad(target, scenario, round, tokens[scenario.role], upstream.pid);
          record(`${scenario.id}\u0001floor`, target.id, r);
          log(`floor ${scenario.id} round ${round} ${target.id}: proxy CPU ${r.cpuMs.proxy?.toFixed(3) ?? '-'} ms/req`);
        }
      }
    }
  }

  // ---- reads at a fixed rate: twice the rate at which the gateway would use half a core ----
  const load: LoadResult[] = [];
  const readRounds = raw.get(`read\u0000gateway`);
  const readScenario = SCENARIOS.find((s) => s.id === 'read') as Scenario;
  if (!args['no-load'] && readRounds) {
    const basis = aggregate('read', 'gateway', readRounds).cpuMs.proxy ?? Number.NaN;
    if (Number.isFinite(basis) && basis > 0) {
      const r50 = r50Of(basis);
      const rate = Math.max(1, Math.round(LOAD.rateFactor * r50));
      // The bare proxy at the same rate: what the machine, the upstream and the load generator add
      // on their own (not in a smoke run, which only exercises the path and must stay fast).
      for (const target of [gatewayTarget, ...targets.filter((t) => t.id === 'bare' && !smoke)]) {
        const r = await measureLoad(target, readScenario, 1, tokens.clinician, upstream.pid, { overallRate: rate, connections: loadRun.connections, durationSeconds: loadRun.seconds });
        const sorted = Float64Array.from(r.samples).sort();
        const l: LoadResult = {
          target: target.id,
          scenario: 'read',
          basisCpuMsPerRead: basis,
          r50,
          targetRps: rate,
          connections: loadRun.connections,
          seconds: r.seconds,
          requests: r.requests,
          failures: r.failures,
          rps: r.rps,
          latency: { p50: r.latency.p50, p99: r.latency.p99, max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN, count: sorted.length },
          over100Ms: r.samples.filter((v) => v > 100).length,
          cpuMsPerRequest: r.cpuMs.proxy,
          coreShare: r.cpuTotalMs.proxy === null ? null : r.cpuTotalMs.proxy / (r.seconds * 1000),
        };
        load.push(l);
        log(`load ${target.id} at ${rate} req/s asked (2 x R50 ${r50.toFixed(0)}): ${l.rps.toFixed(0)} req/s, p50 ${l.latency.p50.toFixed(2)} ms, p99 ${l.latency.p99.toFixed(2)} ms, max ${l.latency.max.toFixed(1)} ms, ${l.over100Ms} over 100 ms${l.failures ? `, ${l.failures} failures` : ''}`);
      }
    }
  }

  // ---- NDJSON export, streamed ----
  const bulk: BulkResult[] = [];
  // Every design with a backend service's export; the gateway also with a researcher's, which it
  // de-identifies line by line (the heaviest redaction).
  const exports = targets.filter((t) => !(smoke && t.id === 'gateway-opa')).map((t) => ({ target: t, token: tokens.system, principal: 'backend service' }));
  if (targets.includes(gatewayTarget)) exports.push({ target: gatewayTarget, token: tokens.systemResearch, principal: 'researcher service, Safe Harbor' });
  for (const { target, token, principal } of args['bulk-mb'] === '0' ? [] : exports) {
    bulk.push(await measureBulk(target, token, principal, upstream.pid));
    const b = bulk[bulk.length - 1] as BulkResult;
    log(`bulk ${target.id} (${principal}): ${(b.bytes / 1e6).toFixed(0)} MB in ${b.seconds.toFixed(1)} s${b.complete ? '' : ' (stopped there)'}, peak RSS ${b.peakRssMb?.toFixed(0) ?? '-'} MB, RSS each second ${b.rssTimelineMb.join(' ')}`);
  }

  // ---- memory per connection ----
  const connectionMemory = await measureConnections(gatewayTarget, tokens.clinician, samples.connections);

  // ---- results ----
  const results: ScenarioResult[] = [];
  const scalingResults: ScenarioResult[] = [];
  const floorResults: ScenarioResult[] = [];
  for (const [key, rounds] of raw) {
    const [scenario, target] = key.split('\u0000') as [string, TargetId];
    if (scenario.endsWith('\u0001scaling')) scalingResults.push(aggregate(scenario.replace('\u0001scaling', ''), target, rounds));
    else if (scenario.endsWith('\u0001floor')) floorResults.push(aggregate(scenario.replace('\u0001floor', ''), target, rounds));
    else results.push(aggregate(scenario, target, rounds, entries.get(key) ?? null));
  }
  const machine: Machine = {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: os.totalmem() / 1024 ** 3,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverage: { start: loadStart, end: os.loadavg()[0] as number },
  };
  const fullConditions: BenchConditions = {
    ...conditions,
    observations: upstream.observations,
    notes: [
      'Upstream: the devkit FHIR server (Medplum engine, in memory) in its own process; the gateway runs its default configuration (audit records to stdout, here a file; info logs; consents read for policy and cached) with the shipped policy bundle.',
      'Tokens: ES256 JWTs from a loopback issuer; each scenario reuses one token, as a client does between refreshes.',
      `Gateway processes run with Node options \`${gatewayNodeOptions.join(' ') || '(none)'}\` (a heap limit, as in a container with a memory limit).`,
      `The machine is shared (load average ${loadStart.toFixed(2)} at start): absolute numbers are noisy; ratios come from targets measured one after the other in the same round.`,
      `Under load: reads at ${LOAD.rateFactor} × R50 (autocannon \`overallRate\`), ${loadRun.connections} connections, ${loadRun.seconds} s measured after a ${conditions.warmupSeconds} s warm-up at the same rate.`,
    ],
  };
  const partial: Omit<BenchRun, 'budgets'> = {
    version: 2,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    conditions: fullConditions,
    scenarios: results,
    ratios: ratiosOf(results),
    bulk,
    enforce,
    decisions,
    scaling: scalingOf(scalingResults),
    floor: floorOf(floorResults),
    connectionMemory,
    linearity: linearityOf(results),
    load,
  };
  const run: BenchRun = { ...partial, budgets: evaluateBudgets(partial) };
  writeResults(run);
  await issuer.close();
}

function rotate<T>(list: readonly T[], by: number): T[] {
  const n = by % list.length;
  return [...list.slice(n), ...list.slice(0, n)];
}

const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Every target answers the read before anything is measured (a broken target would measure errors). */
async function checkTargets(targets: readonly Target[], token: string): Promise<void> {
  for (const t of targets) {
    const res = await fetch(`${t.base}/Patient/pat-alba`, { headers: auth(token) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${t.id} answered ${res.status} to a read`);
  }
}

/**
 * Waits (at most 15 s) until the processes use less than a tenth of a core: work left over from
 * the previous measurement (an overloaded sidecar's queue) must not be charged to the next.
 */
async function quiesce(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const before = cpuMs(pids);
    await new Promise((r) => setTimeout(r, 300));
    if (cpuMs(pids) - before < 30) return;
  }
}

/** The entries of a target's answer to a scenario, asked once (a Bundle's entries other than an OperationOutcome; 1 for a resource); null when it does not answer 2xx. */
async function countEntries(target: Target, scenario: Scenario, token: string): Promise<number | null> {
  const res = await fetch(`${target.base}/${scenario.path}`, { method: scenario.method, headers: { ...auth(token), ...(scenario.body ? { 'content-type': 'application/fhir+json' } : {}) }, ...(scenario.body ? { body: scenario.body } : {}) });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) return null;
  const body = JSON.parse(text) as { resourceType?: string; entry?: Array<{ search?: { mode?: string } }> };
  return body.resourceType === 'Bundle' ? (body.entry ?? []).filter((e) => e.search?.mode !== 'outcome').length : 1;
}

/** A measured run; `over` replaces the run's connections and duration, and asks for a fixed rate. */
async function measureLoad(target: Target, scenario: Scenario, round: number, token: string, upstreamPid: number, over: { overallRate?: number; connections?: number; durationSeconds?: number } = {}): Promise<RawRound> {
  await quiesce([...target.pids, ...(target.sidecarPid ? [target.sidecarPid] : []), upstreamPid]);
  const headers = { ...auth(token), ...(scenario.body ? { 'content-type': 'application/fhir+json' } : {}) };
  const child = fork(path.join(ROOT, 'bench/processes/load.mjs'), [
    JSON.stringify({
      url: `${target.base}/${scenario.path}`,
      method: scenario.method,
      headers,
      body: scenario.body,
      connections: over.connections ?? scenario.connections ?? conditions.connections,
      warmupSeconds: conditions.warmupSeconds,
      durationSeconds: over.durationSeconds ?? conditions.durationSeconds,
      overallRate: over.overallRate ?? null,
    }),
  ], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise<RawRound>((resolve, reject) => {
    let before = { proxy: 0, sidecar: 0, upstream: 0 };
    const now = () => ({ proxy: cpuMs(target.pids), sidecar: target.sidecarPid ? cpuMs([target.sidecarPid]) : 0, upstream: cpuMs([upstreamPid]) });
    child.on('message', (m: { phase: string; result?: { requests: number; failures: number; seconds: number; samples: number[] } }) => {
      if (m.phase === 'measure') {
        resetPeakRss(target.pids);
        before = now();
        return;
      }
      const after = now();
      const r = m.result as NonNullable<typeof m.result>;
      const total = { proxy: target.pids.length ? after.proxy - before.proxy : null, sidecar: target.sidecarPid ? after.sidecar - before.sidecar : null, upstream: after.upstream - before.upstream };
      const per = (v: number | null): number | null => (v === null ? null : v / Math.max(1, r.requests));
      const sorted = Float64Array.from(r.samples).sort();
      const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
      resolve({
        round,
        requests: r.requests,
        failures: r.failures,
        seconds: r.seconds,
        rps: r.requests / r.seconds,
        latency: { p50: at(50), p90: at(90), p99: at(99), mean: r.samples.reduce((a, b) => a + b, 0) / Math.max(1, r.samples.length), count: r.samples.length },
        cpuMs: { proxy: per(total.proxy), sidecar: per(total.sidecar), upstream: per(total.upstream) as number },
        peakRssMb: target.pids.length ? peakRssMb(target.pids) : null,
        samples: r.samples,
        cpuTotalMs: total,
      });
    });
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`load generator exited with ${code}`))));
  });
}

/** Kick-off, status polls and one file download (from a separate process), timed and measured. */
async function measureBulk(target: Target, token: string, principal: string, upstreamPid: number): Promise<BulkResult> {
  const headers = auth(token);
  // The gateway hands out URLs on its public base, the upstream (and so the bare proxy) its own:
  // reach them through the target.
  const via = (url: string): string =>
    url.startsWith(`${PUBLIC_BASE}/`) ? target.base + url.slice(PUBLIC_BASE.length) : target.id === 'bare' ? url.replace(new URL(url).origin, new URL(target.base).origin) : url;
  const kickoff = await fetch(`${target.base}/$export?_type=Observation`, { headers: { ...headers, prefer: 'respond-async' } });
  await kickoff.arrayBuffer();
  const status = kickoff.headers.get('content-location');
  if (kickoff.status !== 202 || !status) throw new Error(`${target.id}: export kick-off answered ${kickoff.status}`);
  let fileUrl: string | null = null;
  for (let i = 0; i < 20 && fileUrl === null; i++) {
    const poll = await fetch(via(status), { headers });
    const text = await poll.text();
    if (poll.status === 200) fileUrl = (JSON.parse(text) as { output: Array<{ url: string }> }).output[0]?.url ?? null;
    else await new Promise((r) => setTimeout(r, 100));
  }
  if (!fileUrl) throw new Error(`${target.id}: export never completed`);

  await quiesce([...target.pids, ...(target.sidecarPid ? [target.sidecarPid] : []), upstreamPid]);
  resetPeakRss(target.pids);
  const before = { proxy: cpuMs(target.pids), sidecar: target.sidecarPid ? cpuMs([target.sidecarPid]) : 0, upstream: cpuMs([upstreamPid]) };
  // The sidecar asks OPA once per resource: hundreds of thousands of calls; a time-boxed part of
  // the file gives its rate.
  const maxSeconds = target.id === 'gateway-opa' ? (quick ? 5 : 20) : null;
  const child = fork(path.join(ROOT, 'bench/processes/download.mjs'), [JSON.stringify({ url: via(fileUrl), headers, maxSeconds })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(child);
  type Downloaded = { status: number; bytes: number; lines: number; seconds: number; complete: boolean };
  // RSS every second: bounded memory shows as a flat line, whatever the export's size.
  const rssTimelineMb: number[] = [];
  const sampler = target.pids.length ? setInterval(() => rssTimelineMb.push(Math.round(rssMb(target.pids))), 1000) : null;
  const result = await new Promise<Downloaded>((resolve, reject) => {
    child.on('message', (m: { phase: string; result?: Downloaded; error?: string }) => (m.result ? resolve(m.result) : reject(new Error(m.error))));
  }).finally(() => sampler && clearInterval(sampler));
  if (result.status !== 200) throw new Error(`${target.id}: export file answered ${result.status}`);
  const mb = result.bytes / 1e6;
  const after = { proxy: cpuMs(target.pids), sidecar: target.sidecarPid ? cpuMs([target.sidecarPid]) : 0, upstream: cpuMs([upstreamPid]) };
  return {
    target: target.id,
    principal,
    bytes: result.bytes,
    lines: result.lines,
    seconds: result.seconds,
    complete: result.complete,
    mbPerSecond: mb / result.seconds,
    cpuMsPerMb: {
      proxy: target.pids.length ? (after.proxy - before.proxy) / mb : null,
      sidecar: target.sidecarPid ? (after.sidecar - before.sidecar) / mb : null,
      upstream: (after.upstream - before.upstream) / mb,
    },
    peakRssMb: target.pids.length ? peakRssMb(target.pids) : null,
    rssTimelineMb,
  };
}

/** Idle keep-alive connections held open against the gateway: the RSS they add, per connection. */
async function measureConnections(target: Target, token: string, connections: number): Promise<ConnectionMemory> {
  const settle = () => new Promise((r) => setTimeout(r, smoke ? 100 : 1500));
  await settle();
  const baseline = rssMb(target.pids);
  const child = fork(path.join(ROOT, 'bench/processes/hold-connections.mjs'), [JSON.stringify({ url: `${target.base}/Patient/pat-alba`, headers: auth(token), connections })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(child);
  await new Promise((resolve) => child.once('message', resolve));
  await settle();
  const held = rssMb(target.pids);
  child.send('close');
  return { connections, baselineRssMb: baseline, kbPerConnection: ((held - baseline) * 1024) / connections };
}

function writeResults(run: BenchRun): void {
  const dir = args.out ? path.resolve(args.out) : path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const name = `${run.startedAt.slice(0, 10)}${quick ? '-quick' : ''}`;
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(path.join(dir, `${name}.md`), renderMarkdown(run, name));
  writeFileSync(path.join(dir, `${name}.svg`), renderSvg(run));
  writeFileSync(path.join(dir, linearitySvgName(name)), renderLinearitySvg(run));
  if (!quick && !args['no-readme'] && !args.out) {
    const readme = path.join(ROOT, 'README.md');
    writeFileSync(readme, withReadmeTable(readFileSync(readme, 'utf8'), renderReadmeTable(run)));
  }
  log(`results: ${path.join(dir, name)}.{json,md,svg}, ${linearitySvgName(name)}`);
  for (const b of run.budgets) log(`budget ${b.pass === null ? 'not judged' : b.pass ? 'met   ' : 'MISSED'} ${b.id}: ${b.description}: ${b.measured} (${b.target})${b.margin ? `: ${b.margin}` : b.missedBy ? `: ${b.missedBy}` : ''}`);
}

function stopAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}

main()
  .then(async () => {
    stopAll();
    if (args['keep-logs']) log(`process logs kept in ${logDir}`);
    else rmSync(logDir, { recursive: true, force: true });
  })
  .catch((err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)} (process logs kept in ${logDir})`);
    stopAll();
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all(opaServers.map((o) => o.close()));
    process.exit();
  });
