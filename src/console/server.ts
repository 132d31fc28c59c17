/**
 * Starts the console's listener (config `console`): discovers the OpenID Connect provider, then
 * serves the console app on its own host and port, apart from the FHIR API.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import { loadAuditKey, type OpenedAuditTrail } from '../audit/open.js';
import { claimMappingSchema } from '../config/auth-schema.js';
import { isLoopbackUrl } from '../config/console-schema.js';
import { ConfigError } from '../config/load.js';
import type { RevocationList } from '../auth/revocation.js';
import type { SqlCaseStore } from '../cases/sql-store.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { readBundleFile, type PolicyBundle } from '../policy/bundle.js';
import type { PolicyEvaluator } from '../policy/engine.js';
import { sourceRevision } from '../policy/toolchain.js';
import { consoleRoutes } from './api.js';
import { decisionRoutes, impactRoute } from './decisions.js';
import { createConsoleApp } from './app.js';
import { privacyRoutes } from './privacy.js';
import { shadowRoutes } from './shadow.js';
import { SessionStore } from './session.js';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Where `npm run build` puts the front end (vite, console/ → dist/console-ui/). */
export const CONSOLE_ASSETS = path.join(PACKAGE_ROOT, 'dist', 'console-ui');

export interface RunningConsole {
  readonly url: string;
  close(): Promise<void>;
}

export interface ConsoleDeps {
  readonly audit: OpenedAuditTrail;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly policy: () => PolicyEvaluator | null;
  readonly env: NodeJS.ProcessEnv;
  /** The revocation list the gateway consults (the breach scope's "revoke now" adds to it). */
  readonly revocation: { readonly list: RevocationList; readonly issuers: readonly string[] } | null;
  /** The review cases in the audit store (null without a store). */
  readonly cases: SqlCaseStore | null;
}

export async function startConsole(config: GatewayConfig, deps: ConsoleDeps): Promise<RunningConsole | null> {
  const c = config.console;
  if (!c) return null;
  const issuerUrl = new URL(c.oidc.issuer);
  let secret: string | undefined;
  if (c.oidc.clientSecretEnv) {
    secret = deps.env[c.oidc.clientSecretEnv];
    if (!secret) throw new ConfigError('console.oidc.clientSecretEnv', `environment variable ${c.oidc.clientSecretEnv} is not set`);
  }
  // Plain http only to a provider on this machine (the demo's, the tests'); anywhere else https.
  const loopbackIssuer = isLoopbackUrl(c.oidc.issuer);
  const oidcConfig = await oidc.discovery(issuerUrl, c.oidc.clientId, secret, secret ? oidc.ClientSecretBasic(secret) : oidc.None(), {
    ...(issuerUrl.protocol === 'http:' && loopbackIssuer ? { execute: [oidc.allowInsecureRequests] } : {}),
    timeout: 10,
  });

  const claims = c.oidc.claims ?? config.auth.issuers.find((i) => i.issuer === c.oidc.issuer)?.claims ?? claimMappingSchema.parse({});
  const sources = path.join(PACKAGE_ROOT, 'policies');
  const bundleFile = config.policy.bundle;
  let cached: PolicyBundle | null = null;
  const routes = consoleRoutes({
    metrics: deps.metrics,
    auditBacklog: () => deps.audit.sample(),
    openCases: deps.cases ? async () => (await (deps.cases as SqlCaseStore).stats()).open : null,
    policy: {
      evaluator: deps.policy,
      // Re-read when the engine's revision moved on (hot reload); the file is the one the gateway watches.
      bundle: async () => {
        if (bundleFile === null) return null;
        const current = deps.policy()?.revision;
        if (cached === null || cached.revision !== current) {
          const data = config.policy.data ? (JSON.parse(readFileSync(config.policy.data, 'utf8')) as Record<string, unknown>) : undefined;
          cached = await readBundleFile(bundleFile, { data });
        }
        return cached;
      },
      sources: safeRevision(sources) !== null ? sources : null,
    },
  });

  // The Decisions page needs the audit store (a postgres sink); without one its API is absent (404).
  if (deps.audit.store) {
    const key = loadAuditKey(config.audit, deps.env);
    routes.push(...decisionRoutes(deps.audit.store, key), impactRoute(deps.audit.store, deps.policy));
    // Patient access history, breach scope and cases: the privacy office's reports, from the same store.
    routes.push(...privacyRoutes({ store: deps.audit.store, key, policy: deps.policy, publicBaseUrl: config.publicBaseUrl, revocation: deps.revocation, cases: deps.cases, logger: deps.logger }));
  }
  routes.push(...shadowRoutes({ bundleFile: config.policy.shadow?.bundle ?? null, signingRequired: config.policy.signing !== undefined }, deps.logger));

  const server = http.createServer({ maxHeaderSize: 32 * 1024, requestTimeout: 60_000, headersTimeout: 20_000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(c.port, c.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  const publicUrl = c.publicUrl ?? url;
  const app = createConsoleApp({
    publicUrl,
    oidc: oidcConfig,
    scope: c.oidc.scope,
    claims,
    sessions: new SessionStore(c.sessionTtlSeconds * 1000),
    sessionTtlSeconds: c.sessionTtlSeconds,
    routes,
    audit: deps.audit,
    policyRevision: () => deps.policy()?.revision ?? 'none',
    logger: deps.logger,
    assetsDir: CONSOLE_ASSETS,
  });
  server.on('request', app);
  deps.logger.info({ url: publicUrl }, 'console listening');
  return {
    url: publicUrl,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function safeRevision(dir: string): string | null {
  try {
    return sourceRevision(dir);
  } catch {
    return null;
  }
}
