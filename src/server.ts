/**
 * Starts a gateway from a validated configuration: loads the policy (a bad bundle stops start-up),
 * opens the audit sinks, starts listening, and fetches the issuer's keys in the background
 * (/readyz turns 200 once they are in). `close()` stops accepting, lets in-flight requests finish
 * and flushes the audit sinks.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { createBearerAuthenticator, type Authenticator } from './auth/authenticate.js';
import { createJwtVerifier } from './auth/jwt-verifier.js';
import { openAuditTrail } from './audit/open.js';
import type { GatewayConfig } from './config/schema.js';
import { createLinkRewriter } from './fhir/links.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics, type GatewayMetrics } from './observability/metrics.js';
import { readBundleFile } from './policy/bundle.js';
import { PolicyEngine } from './policy/engine.js';
import { createForwarder } from './proxy/forward.js';

export interface RunningGateway {
  /** The address it listens on, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly metrics: GatewayMetrics;
  /** Resolves once the token keys are loaded (the gateway is ready). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Where `stdout` audit sinks write (tests capture it). */
  readonly auditStdout?: NodeJS.WritableStream;
  readonly authenticator?: Authenticator;
  /** Environment for secrets (the audit HMAC key, sink credentials); defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger(config.log.level);
  const metrics = createMetrics();

  const bundle = await readBundleFile(config.policy.bundle);
  const policy = await PolicyEngine.load(bundle, { maxMemoryPages: config.policy.maxMemoryPages });
  metrics.policyInfo.set({ revision: policy.revision }, 1);
  logger.info({ revision: policy.revision }, 'policy bundle loaded');

  const audit = await openAuditTrail(config, { logger, metrics, ...(options.auditStdout ? { stdout: options.auditStdout } : {}), ...(options.env ? { env: options.env } : {}) });
  const authenticator =
    options.authenticator ??
    createBearerAuthenticator(
      createJwtVerifier({
        issuer: config.auth.issuer,
        jwksUri: config.auth.jwksUri,
        audience: config.auth.audience,
        algorithms: config.auth.algorithms,
        clockToleranceSeconds: config.auth.clockToleranceSeconds,
      }),
      { maxTokenBytes: config.auth.maxTokenBytes, claims: config.auth.claims },
    );
  const forwarder = createForwarder({
    upstreamUrl: config.upstream.url,
    timeoutMs: config.upstream.timeoutMs,
    maxResponseBytes: config.upstream.maxResponseBytes,
  });

  const app = createApp({
    config,
    classifyOptions: { basePath: new URL(config.publicBaseUrl).pathname.replace(/\/+$/, ''), pagingParameters: new Set(config.upstream.pagingParameters) },
    authenticator,
    policy: () => policy,
    forwarder,
    links: createLinkRewriter(config.upstream.url, config.publicBaseUrl),
    audit,
    metrics,
    logger,
    isReady: () => authenticator.isReady(),
  });

  const server = http.createServer(
    {
      // Bounds on what a client may send before the gateway answers; Node answers 431 above these.
      // Above auth.maxTokenBytes, so an oversized token is refused by the token stage with a clear 401.
      maxHeaderSize: 32 * 1024,
      requestTimeout: config.upstream.timeoutMs + 30_000,
      headersTimeout: 20_000,
    },
    app,
  );
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  }).catch(async (err: unknown) => {
    // Release the spool (its lock, its sinks' connections) when start-up fails here.
    await audit.close();
    throw err;
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ url, publicBaseUrl: config.publicBaseUrl }, 'gateway listening');

  const stopWarmUp = new AbortController();
  const ready = warmUpWithRetry(authenticator, logger, stopWarmUp.signal);
  // Readiness failures are reported by /readyz and the log; start-up itself does not wait for the IdP.
  ready.catch(() => {});

  let closing: Promise<void> | null = null;
  return {
    url,
    metrics,
    ready,
    close() {
      closing ??= (async () => {
        stopWarmUp.abort();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        forwarder.close();
        await audit.close();
      })();
      return closing;
    },
  };
}

async function warmUpWithRetry(authenticator: Authenticator, logger: Logger, signal: AbortSignal): Promise<void> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await authenticator.warmUp();
      logger.info('token signing keys loaded');
      return;
    } catch (err) {
      const delay = Math.min(30_000, 250 * 2 ** Math.min(attempt, 7));
      logger.warn({ attempt, retryInMs: delay, err: err instanceof Error ? err.name : 'error' }, 'cannot load token signing keys yet');
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }
  throw new Error('gateway closed before its token keys were loaded');
}
