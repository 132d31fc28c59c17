/**
 * Starts a gateway from a validated configuration: loads the policy (a bad bundle stops start-up),
 * opens the audit sinks, starts listening, and fetches the issuer's keys in the background
 * (/readyz turns 200 once they are in). `close()` stops accepting, lets in-flight requests finish
 * and flushes the audit sinks.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { guardServer } from './http/hostile.js';
import type { Authenticator } from './auth/authenticate.js';
import { createGatewayAuth } from './auth-wiring.js';
import { fetchFailureText } from './auth/fetch-json.js';
import { loadAuditKey, openAuditTrail } from './audit/open.js';
import type { GatewayConfig } from './config/schema.js';
import { createLinkRewriter } from './fhir/links.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics, type GatewayMetrics } from './observability/metrics.js';
import { startPolicySources, type RunningPolicies } from './policy/wiring.js';
import { createForwarder } from './proxy/forward.js';
import { createUpstreamClient } from './proxy/upstream-client.js';
import { createUpstreamAccess } from './proxy/upstream-access.js';
import { listenerCertificate, watchCertificate } from './tls/certificate-reload.js';
import { createFhirUpstreamBreaker } from './proxy/upstream-breaker.js';
import { createBulkLinkTokens } from './bulk/link-tokens.js';
import { createCursorCodec } from './paging/cursor.js';
import { createConsentStore } from './consent/store.js';
import { startDetector } from './detect/wiring.js';
import type { IncomingMessage } from 'node:http';
import { handlePrivacyAdmin } from './privacy/admin.js';
import { createSqlCaseStore, type SqlCaseStore } from './cases/sql-store.js';
import type { AuditStoreReader } from './audit/store/query.js';
import { openSharedRedis } from './redis/shared.js';
import { rateLimiterFromConfig } from './ratelimit/from-config.js';
import { startConsole } from './console/server.js';
import { configFileError } from './errors-config.js';
import { ENV_KEYS, envKey } from './config/secrets.js';
import { unknownEnvironmentVariables } from './config/load.js';
import { readinessOf } from './readiness.js';
import { createDrainer, createRequestTracker, type Drainer } from './lifecycle.js';

export interface RunningGateway {
  /** The address it listens on, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly metrics: GatewayMetrics;
  /** The console's URL (config `console`), or null when it is off. */
  readonly consoleUrl: string | null;
  /** Resolves once the token keys are loaded (the gateway is ready). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Where `stdout` audit sinks write (tests capture it). */
  readonly auditStdout?: NodeJS.WritableStream;
  readonly authenticator?: Authenticator;
  /** Where secrets named by environment variable are read: token secrets, the audit HMAC key, sink credentials (defaults to process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Policies already running instead of those the configuration names (the benchmark's OPA-server variant). */
  readonly policies?: RunningPolicies;
}

export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger(config.log.level);
  const metrics = createMetrics();

  const env = options.env ?? process.env;
  const unknownVariables = unknownEnvironmentVariables(env, config);
  if (unknownVariables.length > 0) logger.warn({ variables: unknownVariables }, `unknown FHIRGW_* environment variables are ignored (misspelt?): ${unknownVariables.join(', ')}`);
  const policies = options.policies ?? (await startPolicySources(config, env, metrics, logger));

  // Auth first: a missing secret stops start-up before any audit sink is opened.
  // One Redis connection for everything replicas share (auth state, consent cache); it reconnects by
  // itself, and each user decides what a failing command means.
  let openedRedis: Awaited<ReturnType<typeof openSharedRedis>> = null;
  let openedAccess: ReturnType<typeof createUpstreamAccess> | null = null;
  let opened;
  try {
    openedRedis = await openSharedRedis(config, logger, metrics);
    const gatewayAuth = createGatewayAuth(config, { logger, metrics, redis: openedRedis, env: options.env, authenticator: options.authenticator });
    // Before the audit trail: a missing upstream secret or TLS file stops start-up with nothing to release.
    openedAccess = createUpstreamAccess(config, env);
    const trail = await openAuditTrail(config, { logger, metrics, ...(options.auditStdout ? { stdout: options.auditStdout } : {}), ...(options.env ? { env: options.env } : {}) });
    opened = { redis: openedRedis, auth: gatewayAuth, access: openedAccess, audit: trail };
  } catch (err) {
    // A configuration problem found while opening: release what was opened before it.
    openedAccess?.close();
    openedRedis?.disconnect();
    if (!options.policies) policies.close();
    throw err;
  }
  const { redis, auth, access, audit } = opened;
  const authenticator = auth.authenticator;
  if (access.clientCertificateNotAfter) metrics.certificateExpiry.set({ certificate: 'upstream-client' }, access.clientCertificateNotAfter.getTime() / 1000);
  const breaker = createFhirUpstreamBreaker(config, metrics);
  const upstreamOptions = { upstreamUrl: config.upstream.url, timeoutMs: config.upstream.timeoutMs, maxResponseBytes: config.upstream.maxResponseBytes, access, breaker };
  const forwarder = createForwarder(upstreamOptions);
  const upstreamClient = createUpstreamClient(upstreamOptions);
  const consents = config.consent.enabled
    ? createConsentStore({ client: upstreamClient, ttlSeconds: config.consent.cacheTtlSeconds, redis: redis && config.redis ? { client: redis, keyPrefix: config.redis.keyPrefix } : undefined })
    : null;

  const bulk = {
    tokens: createBulkLinkTokens(envKey('FHIRGW_BULK_LINK_KEY', env), config.bulk.linkTtlSeconds),
    publicBase: config.publicBaseUrl,
    upstreamBase: config.upstream.url,
    fileOrigins: config.bulk.fileOrigins,
    timeoutMs: config.upstream.timeoutMs,
    maxManifestBytes: 16 * 1024 * 1024,
    access,
  };

  // Keys replicas must share; a per-process key works, but only on this replica and until it restarts.
  const perProcessKeys = ENV_KEYS.filter((name) => (env[name] ?? '') === '');
  if (perProcessKeys.length > 0) logger.warn({ keys: perProcessKeys }, 'keys not set: using per-process random keys (paging links, Bulk Data links and pseudonyms work on this replica only, until it restarts)');
  // The detector and review cases (config `detect`): a consumer of the shared audit stream.
  const detector = await startDetector({ config, env, redis, storeDb: audit.storeDb, upstreamClient, audit, metrics, logger, policyRevision: () => policies.current()?.revision ?? '' }).catch(async (err: unknown) => {
    await audit.close();
    throw err;
  });
  const auditKey = loadAuditKey(config.audit, env);
  // Review cases in the audit store: the admin API and the console read and close them.
  const cases = audit.storeDb ? createSqlCaseStore({ db: audit.storeDb, transitions: { instance: 'review', key: auditKey, policyRevision: policies.current()?.revision ?? '' } }) : null;
  const requests = createRequestTracker();
  let drainer: Drainer | null = null;
  const app = createApp({
    requests,
    rateLimiter: rateLimiterFromConfig(config, redis, metrics, logger),
    config,
    classifyOptions: { basePath: new URL(config.publicBaseUrl).pathname.replace(/\/+$/, ''), pagingParameters: new Set(config.upstream.pagingParameters) },
    authenticator,
    policy: policies.current,
    forwarder,
    upstreamClient,
    consents,
    bulk,
    pseudonymKey: envKey('FHIRGW_PSEUDONYM_KEY', env) ?? new Uint8Array(randomBytes(32)),
    paging: {
      codec: createCursorCodec(envKey('FHIRGW_CURSOR_KEY', env) ?? new Uint8Array(randomBytes(32)), config.search.cursorTtlSeconds),
      defaultCount: config.search.defaultCount,
      maxCount: config.search.maxCount,
      maxUpstreamPages: config.search.maxUpstreamPagesPerPage,
      maxConditionalCandidates: config.search.maxConditionalCandidates,
      maxChainMatches: config.search.maxChainMatches,
    },
    links: createLinkRewriter(config.upstream.url, config.publicBaseUrl),
    audit,
    auditStore: audit.store,
    metrics,
    logger,
    // Not ready while shutting down, or while the audit spool cannot take records (a replica that
    // would refuse every request with 503 audit_unavailable should get none).
    ...(audit.store && audit.storeDb
      ? {
          privacyAdmin: (req: IncomingMessage) =>
            handlePrivacyAdmin(req, {
              authenticator,
              publicOrigin: new URL(config.publicBaseUrl).origin,
              reader: audit.store as AuditStoreReader,
              cases: cases as SqlCaseStore,
              key: auditKey,
              audit,
              policyRevision: () => policies.current()?.revision ?? '',
            }),
        }
      : {}),
    readiness: () => {
      const sample = audit.sample();
      return readinessOf({
        draining: drainer?.draining === true,
        policyRevision: policies.current()?.revision ?? null,
        // An authenticator without per-issuer detail (tests inject one) reports as one.
        issuers: authenticator.issuerReadiness?.() ?? [{ issuer: '*', keys: authenticator.isReady() ? 'loaded' : 'not-loaded' }],
        spoolWritable: sample.writable,
        sinks: sample.sinks,
        redisReady: redis === null ? null : redis.status === 'ready',
      });
    },
    ...auth.routes,
  });

  const serverOptions = {
    // Bounds on what a client may send before the gateway answers; Node answers 431 above these.
    // Above auth.maxTokenBytes, so an oversized token is refused by the token stage with a clear 401.
    maxHeaderSize: 32 * 1024,
    requestTimeout: config.upstream.timeoutMs + 30_000,
    headersTimeout: 20_000,
    // Node would answer a missing Host with an empty 400; the gateway checks Host itself (http/hostile.ts).
    requireHostHeader: false,
  };
  const tls = config.listen.tls;
  const pair = tls ? listenerCertificate(tls) : null;
  if (pair) metrics.certificateExpiry.set({ certificate: 'listener' }, pair.notAfter.getTime() / 1000);
  const server = tls
    ? https.createServer(
        {
          ...serverOptions,
          cert: pair?.cert,
          key: pair?.key,
          // Certificate-bound tokens (RFC 8705) need the client's certificate; the token, not the TLS layer,
          // decides whether one is required, and self-signed client certificates are legitimate there.
          requestCert: tls.requestClientCertificate,
          rejectUnauthorized: false,
        },
        app,
      )
    : http.createServer(serverOptions, app);
  server.keepAliveTimeout = 65_000;
  guardServer(server, logger);
  drainer = createDrainer(server, requests);
  const certificates = tls
    ? watchCertificate(server as https.Server, tls, {
        intervalMs: tls.reloadIntervalSeconds * 1000,
        logger,
        onInstalled: (p) => metrics.certificateExpiry.set({ certificate: 'listener' }, p.notAfter.getTime() / 1000),
      })
    : null;
  const drain = drainer;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  }).catch(async (err: unknown) => {
    // Release the spool (its lock, its sinks' connections) when start-up fails here.
    await detector?.close();
    await audit.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw configFileError('listen.port', `listen on ${config.listen.host}:${config.listen.port}`, err);
    throw err;
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ url, publicBaseUrl: config.publicBaseUrl }, 'gateway listening');
  const consoleServer = await startConsole(config, { audit, metrics, logger, policy: policies.current, env, revocation: auth.revocation, cases }).catch(async (err: unknown) => {
    server.close();
    await audit.close();
    throw err;
  });

  const stopWarmUp = new AbortController();
  const ready = warmUpWithRetry(authenticator, logger, stopWarmUp.signal);
  // Readiness failures are reported by /readyz and the log; start-up itself does not wait for the IdP.
  ready.catch(() => {});

  let closing: Promise<void> | null = null;
  return {
    url,
    metrics,
    consoleUrl: consoleServer?.url ?? null,
    ready,
    close() {
      closing ??= (async () => {
        stopWarmUp.abort();
        await consoleServer?.close();
        certificates?.stop();
        logger.info({ inFlight: requests.inFlight, drainDelaySeconds: config.lifecycle.drainDelaySeconds, graceSeconds: config.lifecycle.shutdownGraceSeconds }, 'shutting down: not ready, draining');
        await drain.drain({
          drainDelayMs: config.lifecycle.drainDelaySeconds * 1000,
          graceMs: config.lifecycle.shutdownGraceSeconds * 1000,
          abortUpstream: () => forwarder.close(),
          onCut: (n) => logger.warn({ requests: n }, 'shutdown grace period over: cutting the requests still in flight'),
        });
        // Before the trail closes: cases it opens are still spooled.
        await detector?.close();
        forwarder.close();
        access.close();
        await audit.close();
        auth.close();
        policies.close();
        redis?.disconnect();
        logger.info('shutdown complete: audit trail flushed');
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
      // Each failed fetch is logged with its issuer, URL and cause (auth-wiring.ts); this line says when the next try is.
      logger.warn({ attempt, retryInMs: delay, cause: fetchFailureText(err) }, 'cannot load token signing keys yet; retrying');
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }
  throw new Error('gateway closed before its token keys were loaded');
}

