/** What one benchmark run measures and writes to bench/results/<date>.json. */
import type { LatencySummary } from './stats.js';

/** Where the load goes: the four designs compared, and the gateway on two processes for scaling. */
export type TargetId = 'direct' | 'bare' | 'gateway' | 'gateway-opa' | 'gateway-2p' | 'stack';

export const TARGET_LABELS: Record<TargetId, string> = {
  direct: '(a) upstream directly',
  bare: '(b) bare Node proxy',
  gateway: '(c) gateway, in-process WASM',
  'gateway-opa': '(d) gateway, OPA server sidecar',
  'gateway-2p': 'gateway, 2 processes',
  stack: 'express + http-proxy-middleware, JSON parsed and re-serialised',
};

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly os: string;
  /** 1-minute load average when the run started and when it finished (the machine is shared). */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

export interface CpuPerRequest {
  /** The proxy's own process(es): the gateway, or the bare proxy; null for direct. */
  readonly proxy: number | null;
  /** The OPA server, for the sidecar variant. */
  readonly sidecar: number | null;
  readonly upstream: number;
}

export interface RoundMeasurement {
  readonly round: number;
  /** Answers with a 2xx status. */
  readonly requests: number;
  /** Non-2xx answers, errors and timeouts. */
  readonly failures: number;
  readonly seconds: number;
  readonly rps: number;
  readonly latency: LatencySummary;
  /** CPU milliseconds per request, from /proc/<pid>/stat. */
  readonly cpuMs: CpuPerRequest;
  /** Peak resident memory of the proxy process(es) during the round, MB (VmHWM); null for direct. */
  readonly peakRssMb: number | null;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly target: TargetId;
  readonly rounds: readonly RoundMeasurement[];
  /** Median over rounds. */
  readonly rps: number;
  /** Over the latency samples of every round together. */
  readonly latency: LatencySummary;
  /** Total CPU over total requests, every round. */
  readonly cpuMs: CpuPerRequest;
  readonly peakRssMb: number | null;
  readonly failures: number;
  /** Entries of the answer (a Bundle's entries; 1 for a single resource), counted once before the rounds; null when not counted. */
  readonly entries: number | null;
}

/** Ratios of one target to the others measured in the same rounds (median of the per-round values). */
export interface Ratio {
  readonly scenario: string;
  readonly target: TargetId;
  readonly rpsVsBare: number;
  readonly rpsVsDirect: number;
  /** p50 latency added over the bare proxy / over the upstream, ms. */
  readonly addedP50VsBareMs: number;
  readonly addedP50VsDirectMs: number;
}

export interface BulkResult {
  readonly target: TargetId;
  readonly principal: string;
  readonly bytes: number;
  readonly lines: number;
  readonly seconds: number;
  /** False when the download was stopped after a time limit (the sidecar variant is that slow). */
  readonly complete: boolean;
  readonly mbPerSecond: number;
  /** CPU milliseconds per MB streamed. */
  readonly cpuMsPerMb: CpuPerRequest;
  readonly peakRssMb: number | null;
  /** The proxy's RSS each second of the download, MB. */
  readonly rssTimelineMb: readonly number[];
}

/** The enforce stage of one 1,000-entry searchset, measured in-process with the real engine. */
export interface EnforceCost {
  readonly role: string;
  readonly entries: number;
  readonly iterations: number;
  /** CPU ms per Bundle: policy evaluation (input, WASM, validation). */
  readonly policyMs: number;
  /** CPU ms per Bundle: everything else of enforcement (facts, redaction, links). */
  readonly redactionMs: number;
  /** policyMs + redactionMs. */
  readonly totalMs: number;
  readonly resourcesPerSecondPerCore: number;
  /** For context: JSON.parse and JSON.stringify of the Bundle, ms. */
  readonly parseMs: number;
  readonly serializeMs: number;
}

/** One policy decision: in-process WebAssembly against an OPA server over HTTP. */
export interface DecisionCost {
  readonly kind: string;
  readonly iterations: { readonly wasm: number; readonly sidecar: number };
  /** Microseconds of CPU per decision (for the sidecar: the gateway's side plus OPA's). */
  readonly wasmCpuUs: number;
  readonly sidecarCpuUs: number;
  readonly sidecarGatewayCpuUs: number;
  /** Wall-clock microseconds per decision, one at a time. */
  readonly wasmWallUs: number;
  readonly sidecarWallUs: number;
  readonly cpuRatio: number;
  readonly wallRatio: number;
}

export interface Scaling {
  readonly scenario: string;
  readonly oneProcessRps: number;
  readonly twoProcessRps: number;
  /** Median over rounds of two-process / one-process throughput. */
  readonly ratio: number;
  readonly oneProcessCpuMs: number;
  readonly twoProcessCpuMs: number;
}

/**
 * The floor of the design card's stack: CPU per request of the bare proxy, of express +
 * http-proxy-middleware with the answer parsed and re-serialised (bench/processes/stack-floor.mjs),
 * and of the gateway, measured in the same interleaved rounds.
 */
export interface Floor {
  readonly scenario: string;
  readonly bareCpuMs: number;
  readonly stackCpuMs: number;
  readonly gatewayCpuMs: number;
  /** Medians over rounds of the per-round ratios. */
  readonly stackVsBare: number;
  readonly gatewayVsBare: number;
  readonly gatewayVsStack: number;
}

export interface ConnectionMemory {
  readonly connections: number;
  readonly baselineRssMb: number;
  readonly kbPerConnection: number;
}

export interface BudgetResult {
  readonly id: string;
  readonly description: string;
  readonly target: string;
  readonly measured: string;
  /** null: not measured in this run (e.g. a quick run's export is too small to judge). */
  readonly pass: boolean | null;
  /** How far from the budget, in words, when missed. */
  readonly missedBy: string | null;
  /** How far from the budget, in words, met or missed; null when not judged. */
  readonly margin: string | null;
  /** Figures reported beside the judged one (throughput, latency, the parts of a ratio); null for none. */
  readonly beside: string | null;
}

/** One size of the linearity series: a search's CPU per request for one design. */
export interface LinearityPoint {
  readonly scenario: string;
  readonly entries: number;
  readonly cpuMsPerRequest: number;
  /** The plain figure: CPU per request / entries (a fixed per-request cost inflates it for small answers). */
  readonly cpuMsPerEntry: number;
}

/** CPU per entry between two consecutive sizes: (cpu(to) - cpu(from)) / (entries(to) - entries(from)). */
export interface LinearityStep {
  readonly from: string;
  readonly to: string;
  readonly fromEntries: number;
  readonly toEntries: number;
  readonly cpuMsPerEntry: number;
}

/** How one design's CPU per request grows with the number of entries in a search's answer. */
export interface Linearity {
  readonly target: TargetId;
  readonly points: readonly LinearityPoint[];
  readonly steps: readonly LinearityStep[];
  /** Least-squares fit cpu = fixedMs + perEntryMs x entries (relative error, so each size counts alike); null with fewer than two points. */
  readonly fit: { readonly fixedMs: number; readonly perEntryMs: number } | null;
}

/**
 * Reads at a fixed rate, twice the rate at which the gateway would use half of one core (from its
 * CPU per read measured in the same run): latency over every response.
 */
export interface LoadResult {
  readonly target: TargetId;
  readonly scenario: string;
  /** The gateway's CPU per read the rate is derived from, ms (scenario `read`). */
  readonly basisCpuMsPerRead: number;
  /** R50 = 500 / basisCpuMsPerRead: reads per second at which the gateway would use 50 % of a core. */
  readonly r50: number;
  /** The rate asked of autocannon (overallRate), req/s: 2 x R50. */
  readonly targetRps: number;
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly failures: number;
  readonly rps: number;
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number; readonly count: number };
  /** Responses slower than 100 ms. */
  readonly over100Ms: number;
  /** CPU of the proxy per request, ms, and its share of one core over the measured run. */
  readonly cpuMsPerRequest: number | null;
  readonly coreShare: number | null;
}

export interface BenchConditions {
  readonly mode: 'quick' | 'full';
  readonly rounds: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly connections: number;
  readonly patients: number;
  readonly observations: number;
  readonly bulkTargetMb: number;
  readonly notes: readonly string[];
}

export interface BenchRun {
  /** 2: issue 21's budgets (CPU per request against the bare proxy), linearity and the fixed-rate load run. */
  readonly version: 2;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly conditions: BenchConditions;
  readonly scenarios: readonly ScenarioResult[];
  readonly ratios: readonly Ratio[];
  readonly bulk: readonly BulkResult[];
  readonly enforce: readonly EnforceCost[];
  readonly decisions: readonly DecisionCost[];
  readonly scaling: readonly Scaling[];
  /** Absent in runs before 2026-12-04 and with --no-floor. */
  readonly floor?: readonly Floor[];
  readonly connectionMemory: ConnectionMemory | null;
  readonly linearity: readonly Linearity[];
  /** The fixed-rate read runs (the gateway, and the bare proxy at the same rate for comparison). */
  readonly load: readonly LoadResult[];
  readonly budgets: readonly BudgetResult[];
}
