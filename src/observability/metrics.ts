/**
 * Prometheus metrics. Each gateway instance owns its registry (tests run several in one process).
 * Labels are bounded sets only: interaction (a closed union), status code, result. Never ids,
 * users, tokens or paths.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Buckets from 0.5 ms: the gateway's own stages are sub-millisecond, upstream calls are not. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'interaction' | 'code'>;
  readonly requestDuration: Histogram<'interaction' | 'code'>;
  readonly decisions: Counter<'stage' | 'result'>;
  readonly upstreamDuration: Histogram<'outcome'>;
  readonly auditFailures: Counter<'sink'>;
  readonly policyInfo: Gauge<'bundle' | 'revision'>;
  readonly policyLoads: Counter<'bundle' | 'result'>;
  readonly policyLastLoad: Gauge<'bundle'>;
  readonly shadowDisagreements: Counter<'stage' | 'kind'>;
  readonly breakGlass: Counter;
  readonly tokenRejections: Counter<'reason'>;
  readonly jwksFetches: Counter<'issuer' | 'result'>;
  readonly introspections: Counter<'issuer' | 'result'>;
  readonly introspectionCache: Counter<'result'>;
  readonly revocationBypassed: Counter;
}

export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'fhirgw_http_requests_total',
      help: 'FHIR API requests answered, by FHIR interaction and HTTP status code.',
      labelNames: ['interaction', 'code'],
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
      help: 'Audit records a sink failed to accept.',
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
  };
}
