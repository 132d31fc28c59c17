/**
 * Prometheus metrics. Each gateway instance owns its registry (tests run several in one process).
 * Labels are bounded sets only: interaction (a closed union), status code, result. Never ids,
 * users, tokens or paths.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { buildInfo } from '../version.js';
import { createReasonFolder } from './labels.js';

/** Buckets from 0.5 ms for whole requests and upstream calls. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Buckets from 25 µs for the stages: token verification and policy evaluation take tens of microseconds. */
const STAGE_BUCKETS = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The timed stages of a request (a closed set: they are label values). */
export type Stage = 'token' | 'policy' | 'upstream' | 'enforce' | 'audit';

/**
 * Default metrics left out: prom-client's `nodejs_active_{handles,requests,resources}_total` are
 * gauges with a counter's `_total` suffix, which `promtool check metrics` rejects; the same
 * numbers stay available by type (`nodejs_active_handles`, ...).
 */
const DROPPED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'interaction' | 'resource_type' | 'code'>;
  readonly requestDuration: Histogram<'interaction' | 'code'>;
  readonly inFlight: Gauge;
  readonly stageDuration: Histogram<'stage'>;
  readonly decisions: Counter<'stage' | 'result'>;
  /** Requests by final decision and each reason code (folded with `reasonLabel`). */
  readonly decisionReasons: Counter<'decision' | 'reason'>;
  readonly withheld: Counter<'resource_type'>;
  readonly redacted: Counter<'resource_type'>;
  readonly redactedFields: Counter;
  readonly upstreamDuration: Histogram<'outcome'>;
  readonly upstreamErrors: Counter<'kind'>;
  readonly upstreamClientErrors: Counter<'status'>;
  readonly rateLimited: Counter<'limit'>;
  /** Expiry of the certificates in use, by which (listener, upstream-client). */
  readonly certificateExpiry: Gauge<'certificate'>;
  /** 1 while the shared Redis connection is ready (absent without redis.*). */
  readonly redisUp: Gauge;
  readonly rateLimitStoreErrors: Counter<'outcome'>;
  /** A reason code as a bounded label value (see labels.ts). */
  readonly reasonLabel: (reason: string) => string;
  readonly auditFailures: Counter<'sink'>;
  readonly policyInfo: Gauge<'bundle' | 'revision'>;
  readonly policyLoads: Counter<'bundle' | 'result'>;
  readonly policyLastLoad: Gauge<'bundle'>;
  readonly shadowDisagreements: Counter<'stage' | 'kind'>;
  readonly breakGlass: Counter;
  readonly tokenRejections: Counter<'reason'>;
  readonly stepUpChallenges: Counter<'reason'>;
  readonly jwksFetches: Counter<'issuer' | 'result'>;
  readonly introspections: Counter<'issuer' | 'result'>;
  readonly introspectionCache: Counter<'result'>;
  readonly revocationBypassed: Counter;
  readonly upstreamCircuit: Gauge<'upstream' | 'state'>;
  readonly upstreamCircuitRejections: Counter<'upstream'>;
  /** Set by the policy wiring: the WebAssembly memory of each active bundle, read at scrape time. */
  policyMemory: (() => ReadonlyArray<{ readonly bundle: string; readonly bytes: number }>) | null;
  readonly audit: AuditMetrics;
}

/** What the audit trail reports at scrape time (gauges that change with time, not with events). */
export interface AuditSample {
  readonly sinks: ReadonlyArray<{ readonly name: string; readonly undelivered: number; readonly oldest: string | null }>;
  readonly spoolBytes: number;
  readonly writable: boolean;
}

export interface AuditMetrics {
  readonly spooled: Counter<'sink'>;
  readonly delivered: Counter<'sink'>;
  readonly retries: Counter<'sink'>;
  readonly dropped: Counter<'sink'>;
  readonly refused: Counter;
  readonly commitDuration: Histogram;
  readonly commitRecords: Histogram;
  /** Called at each scrape for the queue, age and spool gauges. */
  sampler: (() => AuditSample) | null;
}

export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  const audit = createAuditMetrics(registry);
  const build = buildInfo();
  new Gauge({
    name: 'fhirgw_build_info',
    help: 'The build this process runs: package version, source revision and Node version as labels; the value is always 1.',
    labelNames: ['version', 'revision', 'node'],
    registers: [registry],
  }).set({ version: build.version, revision: build.revision, node: build.node }, 1);
  const metrics: GatewayMetrics = {
    audit,
    registry,
    reasonLabel: createReasonFolder(),
    requests: new Counter({
      name: 'fhirgw_http_requests_total',
      help: 'FHIR API requests answered, by FHIR interaction, resource type (none for system-level requests) and HTTP status code.',
      labelNames: ['interaction', 'resource_type', 'code'],
      registers: [registry],
    }),
    inFlight: new Gauge({ name: 'fhirgw_http_requests_in_flight', help: 'FHIR API requests being processed now.', registers: [registry] }),
    stageDuration: new Histogram({
      name: 'fhirgw_stage_duration_seconds',
      help: 'Time spent in each stage of a request: token (verification), policy (each evaluation: the request decision, each batch of resource decisions), upstream (each call to the FHIR server), enforce (response filtering and redaction, including its resource decisions), audit (committing the record).',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers: [registry],
    }),
    decisionReasons: new Counter({
      name: 'fhirgw_decision_reasons_total',
      help: 'Requests by final decision (allow, deny, error) and reason code; a request with several reasons counts once per reason.',
      labelNames: ['decision', 'reason'],
      registers: [registry],
    }),
    withheld: new Counter({ name: 'fhirgw_resources_withheld_total', help: 'Resources withheld from answers by policy, by resource type.', labelNames: ['resource_type'], registers: [registry] }),
    redacted: new Counter({ name: 'fhirgw_resources_redacted_total', help: 'Resources released with redactions, by resource type.', labelNames: ['resource_type'], registers: [registry] }),
    redactedFields: new Counter({ name: 'fhirgw_redacted_fields_total', help: 'Elements removed or masked by redaction obligations.', registers: [registry] }),
    upstreamErrors: new Counter({
      name: 'fhirgw_upstream_errors_total',
      help: 'Requests that failed because of the upstream FHIR server, by kind (timeout, unavailable, status: a 5xx status, bad_response, too_large, circuit_open: refused at once while the circuit breaker is open). Upstream 4xx answers are counted in fhirgw_upstream_client_errors_total instead.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    upstreamClientErrors: new Counter({
      name: 'fhirgw_upstream_client_errors_total',
      help: 'Requests the upstream FHIR server answered with a 4xx status, by status (400 a malformed request, 401/403 its credentials check refused the gateway, 404/410, 405, 409, 412, 422, 429 ...). Not upstream failures: see docs/errors.md.',
      labelNames: ['status'],
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'fhirgw_tls_certificate_expiry_timestamp_seconds',
      help: 'When a certificate the gateway presents expires (Unix time), by certificate (listener: the HTTPS listener, upstream-client: the client certificate for the upstream).',
      labelNames: ['certificate'],
      registers: [registry],
    }),
    // Registered only where redis.* is configured (src/redis/shared.ts): a deployment without Redis
    // exports no fhirgw_redis_up, so FhirGatewayRedisUnavailable cannot fire on it.
    redisUp: new Gauge({ name: 'fhirgw_redis_up', help: '1 while the connection to the shared-state Redis is ready, 0 while it is down (shared state degraded as documented). Exported only with redis.* configured.', registers: [] }),
    rateLimited: new Counter({ name: 'fhirgw_rate_limited_total', help: 'Requests refused with 429, by the limit they exceeded (user, client).', labelNames: ['limit'], registers: [registry] }),
    rateLimitStoreErrors: new Counter({
      name: 'fhirgw_rate_limit_store_errors_total',
      help: 'Rate-limit checks that could not reach Redis, by what was done (allowed, refused), as rateLimit.onStoreError says.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'fhirgw_http_request_duration_seconds',
      help: 'Time from receiving a FHIR API request to the end of its answer, by FHIR interaction and HTTP status code.',
      labelNames: ['interaction', 'code'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'fhirgw_policy_decisions_total',
      help: 'Policy decisions, by stage (request: before forwarding; resource: each returned resource) and result.',
      labelNames: ['stage', 'result'],
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: 'fhirgw_upstream_request_duration_seconds',
      help: 'Time for the upstream FHIR server to answer, by outcome (HTTP status class, timeout or error).',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: 'fhirgw_audit_write_failures_total',
      help: 'Failed attempts to deliver a batch of audit records to a sink (each is retried).',
      labelNames: ['sink'],
      registers: [registry],
    }),
    policyInfo: new Gauge({
      name: 'fhirgw_policy_bundle_info',
      help: 'The active policy bundles (enforcing, and shadow when configured); the value is always 1, the revision is the label.',
      labelNames: ['bundle', 'revision'],
      registers: [registry],
    }),
    policyLoads: new Counter({
      name: 'fhirgw_policy_bundle_loads_total',
      help: 'Policy bundle load attempts that changed something or failed, by bundle (enforcing, shadow) and result (success, failure).',
      labelNames: ['bundle', 'result'],
      registers: [registry],
    }),
    policyLastLoad: new Gauge({
      name: 'fhirgw_policy_bundle_last_load_timestamp_seconds',
      help: 'When the active bundle was loaded (Unix time): a stale revision shows as an old timestamp.',
      labelNames: ['bundle'],
      registers: [registry],
    }),
    shadowDisagreements: new Counter({
      name: 'fhirgw_policy_shadow_disagreements_total',
      help: 'Decisions where the shadow (candidate) policy disagreed with the enforcing one: a different decision, only different reasons, or an error.',
      labelNames: ['stage', 'kind'],
      registers: [registry],
    }),
    breakGlass: new Counter({
      name: 'fhirgw_break_glass_total',
      help: 'Requests where break-the-glass released data that policy would otherwise have withheld.',
      registers: [registry],
    }),
    tokenRejections: new Counter({
      name: 'fhirgw_token_rejections_total',
      help: 'Requests refused by the authenticate stage, by reason code (token.*, dpop.*, revocation.*; see docs/errors.md).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    stepUpChallenges: new Counter({
      name: 'fhirgw_step_up_challenges_total',
      help: 'Requests answered with an RFC 9470 step-up challenge, by reason (assurance.level-insufficient, assurance.auth-too-old).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    jwksFetches: new Counter({
      name: 'fhirgw_jwks_fetches_total',
      help: 'JWKS fetches, by configured issuer and result (ok, error: unreachable or not 200, invalid: not a usable key set).',
      labelNames: ['issuer', 'result'],
      registers: [registry],
    }),
    introspections: new Counter({
      name: 'fhirgw_token_introspections_total',
      help: 'RFC 7662 introspection calls, by configured issuer and result (active, inactive, error).',
      labelNames: ['issuer', 'result'],
      registers: [registry],
    }),
    introspectionCache: new Counter({
      name: 'fhirgw_introspection_cache_lookups_total',
      help: 'Introspection cache lookups, by result (hit, miss, error).',
      labelNames: ['result'],
      registers: [registry],
    }),
    revocationBypassed: new Counter({
      name: 'fhirgw_revocation_checks_bypassed_total',
      help: 'Requests let through without a revocation check because the store failed and auth.revocation.onStoreError is allow.',
      registers: [registry],
    }),
    upstreamCircuit: new Gauge({
      name: 'fhirgw_upstream_circuit_state',
      help: "The upstream circuit breaker's state: 1 for the current state (closed, open, half-open), 0 for the others.",
      labelNames: ['upstream', 'state'],
      registers: [registry],
    }),
    upstreamCircuitRejections: new Counter({
      name: 'fhirgw_upstream_circuit_rejections_total',
      help: 'Upstream calls not made because the circuit was open (answered 503 upstream_circuit_open).',
      labelNames: ['upstream'],
      registers: [registry],
    }),
    policyMemory: null,
  };
  new Gauge({
    name: 'fhirgw_policy_wasm_memory_bytes',
    help: 'WebAssembly memory held by each active policy bundle (bounded by policy.maxMemoryPages; it should level off).',
    labelNames: ['bundle'],
    registers: [registry],
    collect() {
      for (const m of metrics.policyMemory?.() ?? []) this.set({ bundle: m.bundle }, m.bytes);
    },
  });
  return metrics;
}

function createAuditMetrics(registry: Registry): AuditMetrics {
  const metrics: AuditMetrics = {
    spooled: new Counter({
      name: 'fhirgw_audit_records_spooled_total',
      help: 'Audit records committed to the spool for the sink to deliver (one commit serves every sink).',
      labelNames: ['sink'],
      registers: [registry],
    }),
    delivered: new Counter({ name: 'fhirgw_audit_records_delivered_total', help: 'Audit records a sink acknowledged.', labelNames: ['sink'], registers: [registry] }),
    retries: new Counter({ name: 'fhirgw_audit_delivery_retries_total', help: 'Batches of audit records sent to a sink again after a failed attempt.', labelNames: ['sink'], registers: [registry] }),
    dropped: new Counter({
      name: 'fhirgw_audit_records_dropped_total',
      help: 'Audit records a sink will never receive (shed when the spool was full or unwritable, or lost at shutdown without a spool directory). Stays 0 in durable fail-closed mode.',
      labelNames: ['sink'],
      registers: [registry],
    }),
    refused: new Counter({ name: 'fhirgw_audit_refused_requests_total', help: 'Requests answered 503 audit_unavailable because their audit record could not be spooled (fail-closed).', registers: [registry] }),
    commitDuration: new Histogram({
      name: 'fhirgw_audit_spool_commit_duration_seconds',
      help: 'Time to seal, write and fdatasync one group of audit records in the spool (group commit).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    commitRecords: new Histogram({ name: 'fhirgw_audit_spool_commit_records', help: 'Audit records per group commit.', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024], registers: [registry] }),
    sampler: null,
  };
  const sample = (): AuditSample | null => metrics.sampler?.() ?? null;
  new Gauge({
    name: 'fhirgw_audit_queued_records',
    help: 'Audit records committed to the spool and not yet acknowledged by the sink.',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      for (const s of sample()?.sinks ?? []) this.set({ sink: s.name }, s.undelivered);
    },
  });
  new Gauge({
    name: 'fhirgw_audit_oldest_undelivered_age_seconds',
    help: 'Age of the oldest audit record the sink has not acknowledged (0 when it is caught up).',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      for (const s of sample()?.sinks ?? []) this.set({ sink: s.name }, s.oldest === null ? 0 : Math.max(0, (Date.now() - Date.parse(s.oldest)) / 1000));
    },
  });
  new Gauge({
    name: 'fhirgw_audit_spool_bytes',
    help: 'Bytes held by the audit spool (records not yet acknowledged by every sink).',
    registers: [registry],
    collect() {
      const s = sample();
      if (s) this.set(s.spoolBytes);
    },
  });
  new Gauge({
    name: 'fhirgw_audit_spool_writable',
    help: '1 while the audit spool accepts records, 0 while it is failing (alert on 0).',
    registers: [registry],
    collect() {
      const s = sample();
      if (s) this.set(s.writable ? 1 : 0);
    },
  });
  return metrics;
}
