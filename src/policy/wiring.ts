/**
 * The enforcing policy (and its shadow, when configured) as the server runs them: sources built from
 * the configuration, reloads reported as metrics and logs, and the evaluator the pipeline asks.
 */
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { BundleError } from './bundle-error.js';
import type { PolicyEvaluator } from './engine.js';
import { shadowed } from './shadow.js';
import type { VerificationOptions } from './signature.js';
import { createPolicySource, type BundleLocation, type PolicySource } from './source.js';

export interface RunningPolicies {
  /** The evaluator for the next request, or null until a first bundle has loaded. */
  readonly current: () => PolicyEvaluator | null;
  close(): void;
}

export async function startPolicySources(config: GatewayConfig, env: NodeJS.ProcessEnv, metrics: GatewayMetrics, logger: Logger): Promise<RunningPolicies> {
  const policy = config.policy;
  const verification: VerificationOptions | undefined = policy.signing && {
    scope: policy.signing.scope,
    keys: policy.signing.keys.map((k) => ({ id: k.id, algorithm: k.algorithm, publicKey: readKey(k.publicKeyFile) })),
  };
  const revisions = new Map<string, string>();
  const sourceFor = (bundle: 'enforcing' | 'shadow', location: BundleLocation): PolicySource =>
    createPolicySource({
      location,
      verification,
      dataFile: policy.data,
      maxMemoryPages: policy.maxMemoryPages,
      timeoutMs: config.upstream.timeoutMs,
      onLoaded: (revision) => {
        const previous = revisions.get(bundle);
        if (previous !== undefined) metrics.policyInfo.remove({ bundle, revision: previous });
        revisions.set(bundle, revision);
        metrics.policyInfo.set({ bundle, revision }, 1);
        metrics.policyLoads.inc({ bundle, result: 'success' });
        metrics.policyLastLoad.set({ bundle }, Date.now() / 1000);
        logger.info({ bundle, revision }, 'policy bundle loaded');
      },
      onFailed: (err) => {
        metrics.policyLoads.inc({ bundle, result: 'failure' });
        // The bundle's own errors are safe to log; anything else is named only.
        logger.error({ bundle, err: err instanceof BundleError ? err.message : err instanceof Error ? err.name : 'error', kept: revisions.get(bundle) ?? null }, 'policy bundle rejected; the last good one stays active');
      },
    });

  const enforcing = sourceFor(
    'enforcing',
    policy.service
      ? { kind: 'service', url: policy.service.url, pollSeconds: policy.service.pollSeconds, token: policy.service.tokenEnv ? (env[policy.service.tokenEnv] ?? null) : null }
      : { kind: 'file', path: policy.bundle as string, watchIntervalMs: policy.watchIntervalMs },
  );
  // A file that cannot be loaded at start stops the gateway; a bundle service may come up later
  // (the gateway is not ready until it does, and keeps polling).
  if (policy.service) await enforcing.start().catch(() => undefined);
  else {
    await enforcing.start().catch((err: unknown) => {
      const why = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'unknown error');
      throw err instanceof BundleError ? err : new BundleError(`cannot load policy bundle ${policy.bundle}: ${why}`, { cause: err });
    });
  }

  const shadow = policy.shadow ? sourceFor('shadow', { kind: 'file', path: policy.shadow.bundle, watchIntervalMs: policy.watchIntervalMs }) : null;
  if (shadow) await shadow.start().catch(() => undefined); // a broken candidate never stops the gateway

  metrics.policyMemory = () =>
    [['enforcing', enforcing.current()] as const, ['shadow', shadow?.current() ?? null] as const].flatMap(([bundle, engine]) => (engine ? [{ bundle, bytes: engine.memoryBytes() }] : []));

  return {
    current: () => {
      const primary = enforcing.current();
      const candidate = shadow?.current();
      if (!primary || !candidate) return primary;
      return shadowed(primary, candidate, (stage, kind, detail) => {
        metrics.shadowDisagreements.inc({ stage, kind });
        logger.info({ stage, kind, enforcing: detail.primary?.reasons ?? null, shadow: detail.candidate?.reasons ?? null }, 'shadow policy disagrees');
      });
    },
    close() {
      enforcing.close();
      shadow?.close();
    },
  };
}

function readKey(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new BundleError(`cannot read the bundle verification key ${file}`, { cause: err });
  }
}
