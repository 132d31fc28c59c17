/**
 * Stopping without losing a request or an audit record. On SIGTERM Kubernetes removes the pod from
 * the Service's endpoints while, at the same time, it signals the process; for a moment both
 * happen, so the gateway:
 *
 *   1. reports not-ready at once (/readyz 503), and answers what still arrives, each answer with
 *      `Connection: close` so keep-alive clients reconnect to another replica;
 *   2. waits `lifecycle.drainDelaySeconds` for load balancers to stop sending (0 when a preStop
 *      hook already waited);
 *   3. stops accepting connections and closes idle keep-alive ones, again and again as in-flight
 *      requests finish;
 *   4. waits up to `lifecycle.shutdownGraceSeconds` for in-flight requests to complete; at the end
 *      of the grace period it cuts the connections still open and aborts their upstream calls, so
 *      their handlers finish (with an error) and write their audit records;
 *   5. then the caller flushes the audit trail and closes the rest.
 */
import type { Server } from 'node:http';

/** Counts requests whose handler is running (enter on arrival, leave when the audit record is written). */
export interface RequestTracker {
  /** Marks one request in flight; call the returned function once it is done. */
  enter(): () => void;
  readonly inFlight: number;
  /** Resolves when no request is in flight (at once if none is). */
  idle(): Promise<void>;
}

export function createRequestTracker(): RequestTracker {
  let count = 0;
  let waiters: Array<() => void> = [];
  return {
    enter() {
      count++;
      let left = false;
      return () => {
        if (left) return;
        left = true;
        if (--count === 0) {
          const ready = waiters;
          waiters = [];
          for (const w of ready) w();
        }
      };
    },
    get inFlight() {
      return count;
    },
    idle() {
      return count === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

export interface DrainOptions {
  readonly drainDelayMs: number;
  readonly graceMs: number;
  /** Aborts the upstream calls of requests still running when the grace period ends. */
  readonly abortUpstream: () => void;
  /** How long cut requests get to finish their audit records. */
  readonly settleMs?: number;
  readonly onCut?: (requests: number) => void;
}

export interface Drainer {
  /** True from the moment shutdown begins: /readyz answers 503. */
  readonly draining: boolean;
  /** Runs steps 1 to 4; resolves when no request handler is running any more (or settleMs passed). */
  drain(options: DrainOptions): Promise<void>;
}

/** Wires shutdown into a server: while draining every answer closes its connection. */
export function createDrainer(server: Server, tracker: RequestTracker): Drainer {
  let draining = false;
  // Before the app's own listener, which may answer synchronously (/readyz).
  server.prependListener('request', (_req, res) => {
    if (draining && !res.headersSent) res.setHeader('connection', 'close');
  });
  return {
    get draining() {
      return draining;
    },
    async drain(options) {
      draining = true;
      if (options.drainDelayMs > 0) await sleep(options.drainDelayMs);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A keep-alive connection turns idle when its request ends: close it then, not at its timeout.
      server.closeIdleConnections();
      const sweeper = setInterval(() => server.closeIdleConnections(), 50);
      try {
        const finished = await idleWithin(tracker, options.graceMs);
        if (!finished) {
          options.onCut?.(tracker.inFlight);
          server.closeAllConnections();
          options.abortUpstream();
          await idleWithin(tracker, options.settleMs ?? SETTLE_MS);
        }
        server.closeAllConnections();
        await closed;
      } finally {
        clearInterval(sweeper);
      }
    },
  };
}

/** How long cut requests get to write their audit records after the grace period. */
export const SETTLE_MS = 5000;

/**
 * The longest a clean shutdown may take: drain delay, grace period, settling of cut requests, the
 * audit flush, and a margin. The CLI exits 1 by itself past it, and Kubernetes'
 * terminationGracePeriodSeconds must exceed it plus the preStop pause (k8s/ is checked against it).
 */
export function shutdownBudgetMs(config: { lifecycle: { drainDelaySeconds: number; shutdownGraceSeconds: number }; audit: { delivery: { closeTimeoutMs: number } } }): number {
  return (config.lifecycle.drainDelaySeconds + config.lifecycle.shutdownGraceSeconds) * 1000 + SETTLE_MS + config.audit.delivery.closeTimeoutMs + 2000;
}

/** True when no request is in flight any more within `ms`, false when the time ran out first. */
async function idleWithin(tracker: RequestTracker, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([tracker.idle().then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
