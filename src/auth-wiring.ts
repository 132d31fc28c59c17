/**
 * Wires authentication into the server: reads the secrets, connects the auth state store (Redis
 * when configured, memory otherwise), builds the authenticator, counts refusals, and provides the
 * parts app.ts routes (discovery documents, the revocation admin endpoint). Kept out of server.ts
 * so the server only asks for "the auth parts" and closes them.
 */
import type { IncomingMessage } from 'node:http';
import type { AppParts } from './app.js';
import { withRejectionCount, type Authenticator } from './auth/authenticate.js';
import { buildAuth, type AuthStores, type AuthTelemetry } from './auth/from-config.js';
import { handleRevocationRequest } from './auth/revocation-admin.js';
import type { RevocationList } from './auth/revocation.js';
import { capabilitySecurityOf, smartConfigurationOf } from './auth/smart-configuration.js';
import { createMemoryStateStore } from './auth/state-store.js';
import type { GatewayConfig } from './config/schema.js';
import { readSecrets } from './config/secrets.js';
import { GatewayError } from './errors.js';
import type { Logger } from './observability/logger.js';
import type { GatewayMetrics } from './observability/metrics.js';
import { createRedisStateStore } from './redis/auth-state-store.js';
import type { RedisClient } from './redis/connection.js';

export interface GatewayAuth {
  readonly authenticator: Authenticator;
  /** What app.ts serves besides the pipeline. */
  readonly routes: Pick<AppParts, 'capabilitySecurity' | 'smartConfiguration' | 'revocationAdmin'>;
  /** The revoked-token list the authenticator consults, and the issuers it may name (the console revokes through it). */
  readonly revocation: { readonly list: RevocationList; readonly issuers: readonly string[] };
  close(): void;
}

export function createGatewayAuth(
  config: GatewayConfig,
  options: { logger: Logger; metrics: GatewayMetrics; redis: RedisClient | null; env?: NodeJS.ProcessEnv | undefined; authenticator?: Authenticator | undefined },
): GatewayAuth {
  const { logger, metrics, redis } = options;
  const secrets = readSecrets(config, options.env);
  const shared = redis && config.redis ? createRedisStateStore(redis, config.redis.keyPrefix) : null;
  const stores: AuthStores = shared
    ? { revocation: shared, replay: shared, introspection: shared }
    : {
        revocation: createMemoryStateStore({ maxEntries: 100_000, whenFull: 'refuse' }),
        replay: createMemoryStateStore({ maxEntries: 200_000, whenFull: 'refuse' }),
        introspection: createMemoryStateStore({ maxEntries: 50_000, whenFull: 'evict-oldest' }),
      };
  const auth = buildAuth(config.auth, { stores, secrets: secrets.introspection, telemetry: authTelemetry(metrics, logger) });
  const advertisedMetadata = async () => {
    try {
      return await auth.advertised.metadata.get();
    } catch (err) {
      throw new GatewayError('auth_unavailable', { reasons: ['discovery.unavailable'], cause: err });
    }
  };
  const adminToken = secrets.adminToken;
  const issuers = config.auth.issuers.map((i) => i.issuer);

  return {
    authenticator: withRejectionCount(options.authenticator ?? auth.authenticator, (reason) => metrics.tokenRejections.inc({ reason: metrics.reasonLabel(reason) })),
    routes: {
      // metadata stays readable while the IdP is unreachable: the last known endpoints, or none.
      capabilitySecurity: async () => capabilitySecurityOf(await advertisedMetadata().catch(() => auth.advertised.metadata.cached())),
      smartConfiguration: async () => smartConfigurationOf(await advertisedMetadata(), auth.advertised.issuer.issuer, { capabilities: config.auth.discovery.capabilities }),
      ...(adminToken === null
        ? {}
        : {
            revocationAdmin: async (req: IncomingMessage) => {
              const result = await handleRevocationRequest(req, { adminToken, revocation: auth.revocation, issuers });
              // An administrative event worth a log line (the kind and issuer only: no identifiers).
              logger.info({ revoked: result.body.revoked, iss: result.body.iss }, 'revocation added');
              return result;
            },
          }),
    },
    revocation: { list: auth.revocation, issuers },
    close: () => {},
  };
}

function authTelemetry(metrics: GatewayMetrics, logger: Logger): AuthTelemetry {
  return {
    jwksFetch: (issuer, result) => {
      metrics.jwksFetches.inc({ issuer, result });
    },
    jwksFailure: (issuer, { url, cause, keysInUse }) =>
      keysInUse
        ? logger.warn({ issuer, url, cause }, `JWKS fetch from ${url} failed (${cause}); the last good keys stay in use`)
        : logger.error({ issuer, url, cause }, `JWKS fetch from ${url} failed (${cause}); no keys yet: tokens from ${issuer} are refused (503 auth_unavailable) until a fetch succeeds`),
    introspection: (issuer, result) => metrics.introspections.inc({ issuer, result }),
    introspectionCache: (result) => metrics.introspectionCache.inc({ result }),
    revocationBypassed: () => {
      metrics.revocationBypassed.inc();
      logger.error('revocation store unavailable; request let through (auth.revocation.onStoreError: allow)');
    },
  };
}
