/**
 * A circuit breaker in front of the upstream FHIR server (cockatiel's, with a count-based window):
 * when most recent calls fail because the upstream is unreachable, times out or answers 502/503/504,
 * the gateway stops calling it and answers 503 `upstream_circuit_open` at once, instead of holding
 * every client for the full timeout and piling more load on a server that is down. After
 * `halfOpenAfterMs` one call is let through as a probe: success closes the circuit, failure opens
 * it again. Calls arriving while the probe is in flight wait for its outcome.
 *
 * What counts as a failure is chosen so a client cannot open the circuit for everyone with requests
 * of its own making: a 500 (often one request tripping a server bug) and any 4xx do not count, nor
 * does a client going away; only a failure ratio over the last calls opens it, not one bad call.
 */
import { BrokenCircuitError, circuitBreaker, CircuitState, CountBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel';
import { GatewayError } from '../errors.js';

export interface CircuitBreakerOptions {
  readonly enabled: boolean;
  /** Fraction (0..1, exclusive) of the last `windowCalls` calls that must fail to open the circuit. */
  readonly failureRatio: number;
  readonly windowCalls: number;
  /** Calls needed in the window before the circuit may open at all. */
  readonly minimumCalls: number;
  /** How long the circuit stays open before a probe call is let through. */
  readonly halfOpenAfterMs: number;
}

export const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;
export type CircuitStateName = (typeof CIRCUIT_STATES)[number];

export interface UpstreamBreaker {
  /**
   * Runs one upstream call through the breaker. `failedAnswer` says whether an answer the upstream
   * did give counts as a failure. Throws GatewayError `upstream_circuit_open` while open.
   */
  call<T>(fn: () => Promise<T>, failedAnswer: (answer: T) => boolean): Promise<T>;
  readonly state: () => CircuitStateName;
}

/** Upstream statuses that say the server (or what is in front of it) is failing, not the request. */
export function isFailingStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** Thrown outcomes that say the upstream is failing: unreachable, reset, or too slow. */
function isUpstreamFault(err: unknown): boolean {
  if (!(err instanceof GatewayError)) return false;
  if (err.code === 'upstream_timeout') return true;
  return err.code === 'upstream_unavailable' && !err.reasons.includes('client.gone');
}

/** A marker for answers classified as failures, so cockatiel counts them without rethrowing. */
const FAILED = Symbol('failed-answer');
type Marked<T> = { readonly answer: T; readonly [FAILED]: boolean };

/** What the breaker reports (the metrics adapter listens). */
export interface BreakerEvents {
  readonly state?: (state: CircuitStateName) => void;
  readonly rejected?: () => void;
}

export function createUpstreamBreaker(options: CircuitBreakerOptions, events: BreakerEvents = {}): UpstreamBreaker {
  const onState = events.state ?? (() => {});
  if (!options.enabled) {
    onState('closed');
    return { call: (fn) => fn(), state: () => 'closed' };
  }
  const policy: CircuitBreakerPolicy = circuitBreaker(
    handleWhen(isUpstreamFault).orWhenResult((r) => (r as Marked<unknown>)[FAILED] === true),
    {
      halfOpenAfter: options.halfOpenAfterMs,
      breaker: new CountBreaker({ threshold: options.failureRatio, size: options.windowCalls, minimumNumberOfCalls: options.minimumCalls }),
    },
  );
  const nameOf = (s: CircuitState): CircuitStateName => (s === CircuitState.Closed ? 'closed' : s === CircuitState.HalfOpen ? 'half-open' : 'open');
  policy.onStateChange((s) => onState(nameOf(s)));
  onState('closed');
  return {
    async call(fn, failedAnswer) {
      try {
        const marked = await policy.execute(async () => {
          const answer = await fn();
          return { answer, [FAILED]: failedAnswer(answer) };
        });
        return marked.answer;
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          events.rejected?.();
          throw new GatewayError('upstream_circuit_open', { reasons: ['upstream.circuit-open'] });
        }
        throw err;
      }
    },
    state: () => nameOf(policy.state),
  };
}
