/**
 * Costs measured inside the benchmark's own (otherwise idle) process with the gateway's real
 * code: the enforce stage of a 1,000-entry searchset (what the gateway does per resource, without
 * the HTTP around it), and one policy decision in-process against one asked of an OPA server.
 */
import { principalFromClaims, type ClaimMapping, type Principal } from '../../src/auth/principal.js';
import { claimMappingSchema } from '../../src/config/auth-schema.js';
import type { OpaHttpEngine } from '../../src/devkit/opa-http-engine.js';
import { enforceResponse, type ResponseEnforcer } from '../../src/enforce/response.js';
import { classify } from '../../src/fhir/classify.js';
import { createLinkRewriter } from '../../src/fhir/links.js';
import type { Consents, FhirResourceJson, RequestInput, ResourcesInput } from '../../src/policy/contract.js';
import type { PolicyEvaluator } from '../../src/policy/engine.js';
import { policyEnv, policyRequest, resourceFacts } from '../../src/policy/input.js';
import type { DecisionCost, EnforceCost } from './model.js';
import { preciseCpuMs } from './proc.js';

/** The default claim mapping, as the gateway's config gives it. */
const MAPPING: ClaimMapping = claimMappingSchema.parse({});

/** The principals of the scenarios, as the gateway builds them from their tokens' claims. */
export const PRINCIPAL_CLAIMS = {
  clinician: { sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] },
  // A lab-only app: its granular scope withholds the vital signs, half of the synthetic Observations.
  clinicianLab: { sub: 'Practitioner/prac-hopper', scope: 'user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory', roles: ['clinician'], purpose_of_use: ['TREAT'] },
  researcher: { sub: 'researcher-1', scope: 'user/Patient.rs user/Observation.rs', roles: ['researcher'], purpose_of_use: ['HRESCH'] },
  system: { sub: 'svc-bench', client_id: 'bench-export', scope: 'system/*.rs' },
  systemResearch: { sub: 'svc-research', client_id: 'bench-research-export', scope: 'system/*.rs', roles: ['researcher'], purpose_of_use: ['HRESCH'] },
} as const;

export function principalOf(role: keyof typeof PRINCIPAL_CLAIMS, iss: string): Principal {
  return principalFromClaims({ iss, client_id: 'bench', jti: 'bench', exp: 4_000_000_000, ...PRINCIPAL_CLAIMS[role] }, MAPPING);
}

const cpuMsNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** The gateway's resource decisions for a search (consents read and empty, as after the cache warmed). */
function resourcesInputFor(principal: Principal, items: ResourcesInput['items'], revision: string, path: string): ResourcesInput {
  const patients = [...new Set(items.flatMap((i) => i.facts.patients))];
  const consents: Consents = Object.fromEntries(patients.map((p) => [p, { status: 'ok' as const, consents: [] }]));
  return { principal, request: policyRequest(classify('GET', `/fhir/${path}`, { basePath: '/fhir', pagingParameters: new Set() })), env: policyEnv(new Date(), revision), items, consents };
}

export async function measureEnforce(options: {
  readonly role: keyof typeof PRINCIPAL_CLAIMS;
  readonly bundleText: string;
  readonly engine: PolicyEvaluator;
  readonly upstreamBase: string;
  readonly publicBase: string;
  readonly iterations: number;
}): Promise<EnforceCost> {
  const principal = principalOf(options.role, 'https://idp.bench');
  const links = createLinkRewriter(options.upstreamBase, options.publicBase);
  let policyMs = 0;
  const enforcer: ResponseEnforcer = {
    links,
    decide: async (items) => {
      const started = cpuMsNow();
      const decisions = await options.engine.decideResources(resourcesInputFor(principal, items, options.engine.revision, 'Observation?_count=1000'));
      policyMs += cpuMsNow() - started;
      return decisions;
    },
    redaction: { now: new Date(), pseudonymKey: new Uint8Array(32).fill(7) },
  };
  let entries = 0;
  const run = async (): Promise<{ parse: number; enforce: number; serialize: number }> => {
    let t = cpuMsNow();
    const body = JSON.parse(options.bundleText) as FhirResourceJson & { entry?: unknown[] };
    const parse = cpuMsNow() - t;
    entries = body.entry?.length ?? 0;
    t = cpuMsNow();
    await enforceResponse(body, enforcer);
    const enforce = cpuMsNow() - t;
    t = cpuMsNow();
    JSON.stringify(body);
    return { parse, enforce, serialize: cpuMsNow() - t };
  };
  for (let i = 0; i < 5; i++) await run(); // warm-up: JIT, WASM memory grown
  policyMs = 0;
  let parse = 0;
  let enforce = 0;
  let serialize = 0;
  for (let i = 0; i < options.iterations; i++) {
    const r = await run();
    parse += r.parse;
    enforce += r.enforce;
    serialize += r.serialize;
  }
  const n = options.iterations;
  return {
    role: options.role,
    entries,
    iterations: n,
    policyMs: policyMs / n,
    redactionMs: (enforce - policyMs) / n,
    totalMs: enforce / n,
    resourcesPerSecondPerCore: (entries * 1000) / (enforce / n),
    parseMs: parse / n,
    serializeMs: serialize / n,
  };
}

/** One decision at a time, in-process and through the OPA server, CPU on both sides of the wire. */
export async function measureDecisions(options: {
  readonly wasm: PolicyEvaluator;
  readonly sidecar: OpaHttpEngine;
  readonly opaPid: number;
  readonly resources: readonly FhirResourceJson[];
  readonly upstreamBase: string;
  readonly iterations: { readonly wasm: number; readonly sidecar: number };
}): Promise<DecisionCost[]> {
  const principal = principalOf('clinician', 'https://idp.bench');
  const revision = options.wasm.revision;
  const requestInput: RequestInput = { principal, request: policyRequest(classify('GET', '/fhir/Patient/pat-alba', { basePath: '/fhir', pagingParameters: new Set() })), env: policyEnv(new Date(), revision) };
  const items = options.resources.slice(0, 100).map((resource) => ({ resource, facts: resourceFacts(resource, [options.upstreamBase]) }));
  const resourcesInput = resourcesInputFor(principal, items, revision, 'Observation?_count=100');

  // Costs are per decision: a response's resources are decided together (one WASM evaluation; the
  // sidecar adapter's concurrent calls), and divided by their number.
  const kinds: Array<{ kind: string; decisions: number; decide: (engine: PolicyEvaluator) => Promise<unknown> }> = [
    { kind: 'request', decisions: 1, decide: async (engine) => engine.decideRequest(requestInput) },
    { kind: `resource (${items.length} per response)`, decisions: items.length, decide: async (engine) => engine.decideResources(resourcesInput) },
  ];
  const results: DecisionCost[] = [];
  for (const { kind, decisions, decide } of kinds) {
    const timed = async (engine: PolicyEvaluator, n: number): Promise<{ cpuUs: number; wallUs: number; opaCpuUs: number }> => {
      for (let i = 0; i < Math.max(20, n / 10); i++) await decide(engine);
      const opa0 = preciseCpuMs(options.opaPid);
      const cpu0 = cpuMsNow();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await decide(engine);
      const per = n * decisions;
      const wallUs = Number(process.hrtime.bigint() - t0) / 1000 / per;
      return { cpuUs: ((cpuMsNow() - cpu0) * 1000) / per, wallUs, opaCpuUs: ((preciseCpuMs(options.opaPid) - opa0) * 1000) / per };
    };
    const wasm = await timed(options.wasm, options.iterations.wasm);
    const sidecar = await timed(options.sidecar, Math.max(5, Math.round(options.iterations.sidecar / decisions)));
    const sidecarCpuUs = sidecar.cpuUs + sidecar.opaCpuUs;
    results.push({
      kind,
      iterations: options.iterations,
      wasmCpuUs: wasm.cpuUs,
      sidecarCpuUs,
      sidecarGatewayCpuUs: sidecar.cpuUs,
      wasmWallUs: wasm.wallUs,
      sidecarWallUs: sidecar.wallUs,
      cpuRatio: sidecarCpuUs / wasm.cpuUs,
      wallRatio: sidecar.wallUs / wasm.wallUs,
    });
  }
  return results;
}
