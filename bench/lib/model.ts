/** What one benchmark run measures and writes to bench/results/<date>.json. */
import type { LatencySummary } from './stats.js';

/** Where the load goes: the four designs compared, and the gateway on two processes for scaling. */
export type TargetId = 'direct' | 'bare' | 'gateway' | 'gateway-opa' | 'gateway-2p';

export const TARGET_LABELS: Record<TargetId, string> = {
  direct: '(a) upstream directly',
  bare: '(b) bare Node proxy',
  gateway: '(c) gateway, in-process WASM',
  'gateway-opa': '(d) gateway, OPA server sidecar',
  'gateway-2p': 'gateway, 2 processes',
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
  readonly version: 1;
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
  readonly connectionMemory: ConnectionMemory | null;
  readonly budgets: readonly BudgetResult[];
}
