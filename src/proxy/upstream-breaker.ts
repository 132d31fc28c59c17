/**
 * The upstream's circuit breaker wired to its metrics (the breaker itself knows nothing of
 * prom-client): `fhirgw_upstream_circuit_state` shows the current state, and each call refused
 * while open is counted.
 */
import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { CIRCUIT_STATES, createUpstreamBreaker, type UpstreamBreaker } from './circuit-breaker.js';

/** The label of the configured FHIR upstream (there is one; the label leaves room for more). */
const UPSTREAM = 'fhir';

export function createFhirUpstreamBreaker(config: GatewayConfig, metrics: GatewayMetrics): UpstreamBreaker {
  return createUpstreamBreaker(config.upstream.circuitBreaker, {
    state: (current) => {
      for (const state of CIRCUIT_STATES) metrics.upstreamCircuit.set({ upstream: UPSTREAM, state }, state === current ? 1 : 0);
    },
    rejected: () => metrics.upstreamCircuitRejections.inc({ upstream: UPSTREAM }),
  });
}
