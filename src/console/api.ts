/**
 * The console's JSON API (documented in docs/console.md): each page is built on these, and the same
 * calls are scriptable with a session. Which role may call what is in the table `consoleRoutes`
 * returns; src/console/app.ts enforces it before any handler runs.
 */
import { z, ZodError } from 'zod';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { PolicyBundle } from '../policy/bundle.js';
import { PolicyEngine, type PolicyEvaluator } from '../policy/engine.js';
import { ToolchainError } from '../policy/toolchain.js';
import { EvalInputError } from '../policy-cli/eval-input.js';
import { evaluateExplained, NoSourcesError } from '../policy-cli/explained-eval.js';
import type { ApiRoute } from './app.js';
import { candidateSchema, withCandidate } from './candidate.js';

export interface ActivePolicy {
  /** The evaluator requests are decided with now. */
  readonly evaluator: () => PolicyEvaluator | null;
  /** The active bundle as read (its data, with deployment data merged), for explanations; null when not a file. */
  readonly bundle: () => Promise<PolicyBundle | null>;
  /** The Rego sources of the active bundle, if this installation has them. */
  readonly sources: string | null;
}

export interface ConsoleApiDeps {
  readonly metrics: GatewayMetrics;
  readonly policy: ActivePolicy;
  /** Open review cases, from the case store; null where this deployment has none. */
  readonly openCases?: (() => Promise<number>) | null;
  readonly auditBacklog: () => { readonly sinks: readonly { readonly name: string; readonly undelivered: number }[]; readonly writable: boolean };
  readonly now?: () => number;
}

const MAX_MEMORY_PAGES = 2048;

const playgroundSchema = z.strictObject({
  /** The policy eval document (docs/policy-guide.md): claims or principal, request, response, consents, ... */
  case: z.record(z.string(), z.unknown()),
  explain: z.enum(['full', 'notes']).optional(),
  /** Evaluate a candidate built from these sources (path → content, .rego and .json) instead of the active bundle. */
  candidate: candidateSchema.optional(),
});

export function consoleRoutes(deps: ConsoleApiDeps): ApiRoute[] {
  const history = createHistory(deps.metrics, deps.now ?? Date.now);
  return [
    {
      method: 'GET',
      path: '/overview',
      roles: ['privacy-officer', 'policy-author', 'auditor'],
      action: 'overview',
      handle: async ({ req }) => {
        const minutes = Number(req.query['minutes'] ?? 60);
        if (!Number.isInteger(minutes) || minutes < 1 || minutes > 24 * 60) throw new GatewayError('console_invalid_request', { reasons: ['console.minutes'] });
        return { status: 200, body: await overview(deps, history, minutes) };
      },
    },
    {
      method: 'POST',
      path: '/playground/evaluate',
      roles: ['policy-author'],
      action: 'playground.evaluate',
      handle: async ({ req }) => {
        const parsed = playgroundSchema.safeParse(req.body);
        if (!parsed.success) throw invalid(parsed.error);
        try {
          return { status: 200, body: await playground(deps.policy, parsed.data) };
        } catch (err) {
          if (err instanceof ZodError) throw invalid(err);
          if (err instanceof EvalInputError || err instanceof NoSourcesError || err instanceof ToolchainError) {
            throw new GatewayError('console_invalid_request', { reasons: ['console.playground'], cause: err, parameter: err.message });
          }
          throw err;
        }
      },
    },
  ];
}

function invalid(err: ZodError): GatewayError {
  return new GatewayError('console_invalid_request', { reasons: ['console.body'], parameter: err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') });
}

async function playground(policy: ActivePolicy, body: z.output<typeof playgroundSchema>): Promise<unknown> {
  if (body.candidate) {
    return withCandidate(body.candidate.files, async ({ bundle, sources }) => {
      const engine = await PolicyEngine.load(bundle, { maxMemoryPages: MAX_MEMORY_PAGES });
      const r = await evaluateExplained(engine, bundle, body.case, { explain: body.explain, sources });
      return { bundle: 'candidate', ...r };
    });
  }
  const evaluator = policy.evaluator();
  if (!evaluator) throw new GatewayError('policy_not_ready');
  const bundle = await policy.bundle();
  let explanationUnavailable: string | null = null;
  const explain = body.explain !== undefined && bundle !== null && bundle.revision === evaluator.revision && policy.sources !== null ? body.explain : undefined;
  if (body.explain !== undefined && explain === undefined) {
    explanationUnavailable = bundle === null || bundle.revision !== evaluator.revision ? 'the active bundle is not a file this console can read' : 'this installation has no Rego sources for the active bundle';
  }
  const r = await evaluateExplained(evaluator, bundle ?? { data: {}, revision: evaluator.revision }, body.case, { explain, sources: policy.sources ?? undefined });
  return { bundle: 'active', ...r, ...(explanationUnavailable ? { explanationUnavailable } : {}) };
}

interface Sample {
  readonly t: number;
  readonly decisions: number;
  readonly denials: number;
}

/** Per-minute decision counts, sampled from the metrics (at most a day, in memory). */
function createHistory(metrics: GatewayMetrics, now: () => number): { samples: () => Promise<Sample[]> } {
  const samples: Sample[] = [];
  const take = async (): Promise<void> => {
    const m = await metrics.decisions.get();
    let decisions = 0;
    let denials = 0;
    for (const v of m.values) {
      if (v.labels['stage'] !== 'request') continue;
      decisions += v.value;
      if (v.labels['result'] !== 'allow') denials += v.value;
    }
    const t = Math.floor(now() / 60_000) * 60_000;
    const last = samples.at(-1);
    if (last && last.t === t) samples[samples.length - 1] = { t, decisions, denials };
    else samples.push({ t, decisions, denials });
    if (samples.length > 24 * 60 + 1) samples.shift();
  };
  const timer = setInterval(() => void take(), 15_000);
  timer.unref();
  return {
    samples: async () => {
      await take();
      return samples;
    },
  };
}

async function overview(deps: ConsoleApiDeps, history: { samples: () => Promise<Sample[]> }, minutes: number): Promise<unknown> {
  const samples = await history.samples();
  const since = Math.floor((deps.now ?? Date.now)() / 60_000) * 60_000 - (minutes - 1) * 60_000;
  // Counters are totals: a minute's figure is its difference from the minute before.
  const perMinute = samples.flatMap((s, i) => {
    if (s.t < since) return [];
    const prev = i > 0 ? samples[i - 1]! : { decisions: 0, denials: 0 };
    return [{ minute: new Date(s.t).toISOString(), decisions: s.decisions - prev.decisions, denials: s.denials - prev.denials }];
  });
  const reasons = (await deps.metrics.decisionReasons.get()).values
    .map((v) => ({ reason: String(v.labels['reason']), decision: String(v.labels['decision']), count: v.value }))
    .sort((a, b) => b.count - a.count)
    .slice(0, 10);
  const breakGlass = (await deps.metrics.breakGlass.get()).values.reduce((a, v) => a + v.value, 0);
  const policyInfo = (await deps.metrics.policyInfo.get()).values.map((v) => ({ bundle: String(v.labels['bundle']), revision: String(v.labels['revision']) }));
  const lastLoad = (await deps.metrics.policyLastLoad.get()).values.map((v) => ({ bundle: String(v.labels['bundle']), at: new Date(v.value * 1000).toISOString() }));
  const circuit = (await deps.metrics.upstreamCircuit.get()).values.filter((v) => v.value === 1).map((v) => ({ upstream: String(v.labels['upstream']), state: String(v.labels['state']) }));
  const backlog = deps.auditBacklog();
  return {
    minutes,
    perMinute,
    topReasons: reasons,
    breakGlass,
    // Review cases come from the privacy-office store; null where this deployment has none.
    openCases: deps.openCases ? await deps.openCases() : null,
    auditBacklog: { writable: backlog.writable, sinks: backlog.sinks.map((s) => ({ name: s.name, undelivered: s.undelivered })) },
    policy: policyInfo.map((p) => ({ ...p, lastLoad: lastLoad.find((l) => l.bundle === p.bundle)?.at ?? null })),
    upstreamCircuit: circuit,
  };
}
