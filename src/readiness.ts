/**
 * What /readyz answers: ready or not, which checks fail (`notReady`), and the state of each part,
 * so an operator sees at once whether it is the policy, which issuer's keys, or the audit spool.
 * Only states, names the configuration gives (issuers, sink names), counts and the policy revision:
 * no URL beyond the issuers' (public) identifiers, no credentials, no data.
 *
 * Redis and the sinks' backlogs are shown but never make a replica unready: they are shared by every
 * replica, and taking all of them out of the Service at once would turn well-formed 503
 * OperationOutcomes into connection errors (docs/operations.md#health-endpoints).
 */
import type { IssuerReadiness } from './auth/authenticate.js';

export interface ReadinessInputs {
  readonly draining: boolean;
  /** The enforcing policy's revision, or null while none is loaded. */
  readonly policyRevision: string | null;
  readonly issuers: readonly IssuerReadiness[];
  readonly spoolWritable: boolean;
  readonly sinks: ReadonlyArray<{ readonly name: string; readonly undelivered: number }>;
  /** null without `redis.*`; else whether the shared connection is ready. */
  readonly redisReady: boolean | null;
}

export interface Readiness {
  readonly ready: boolean;
  /** The failing checks: `shutdown`, `policy`, `issuer:<issuer>`, `audit.spool`. */
  readonly notReady: readonly string[];
  readonly checks: {
    readonly shutdown: 'running' | 'draining';
    readonly policy: { readonly loaded: boolean; readonly revision: string | null };
    readonly issuers: readonly IssuerReadiness[];
    readonly auditSpool: 'writable' | 'unwritable';
    readonly auditSinks: ReadonlyArray<{ readonly name: string; readonly undelivered: number }>;
    readonly redis: 'not-configured' | 'ready' | 'unavailable';
  };
}

export function readinessOf(inputs: ReadinessInputs): Readiness {
  const notReady: string[] = [];
  if (inputs.draining) notReady.push('shutdown');
  if (inputs.policyRevision === null) notReady.push('policy');
  for (const i of inputs.issuers) if (i.keys === 'not-loaded') notReady.push(`issuer:${i.issuer}`);
  if (!inputs.spoolWritable) notReady.push('audit.spool');
  return {
    ready: notReady.length === 0,
    notReady,
    checks: {
      shutdown: inputs.draining ? 'draining' : 'running',
      policy: { loaded: inputs.policyRevision !== null, revision: inputs.policyRevision },
      issuers: inputs.issuers,
      auditSpool: inputs.spoolWritable ? 'writable' : 'unwritable',
      auditSinks: inputs.sinks.map((s) => ({ name: s.name, undelivered: s.undelivered })),
      redis: inputs.redisReady === null ? 'not-configured' : inputs.redisReady ? 'ready' : 'unavailable',
    },
  };
}
