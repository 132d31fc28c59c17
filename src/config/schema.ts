/**
 * The gateway's configuration, as one strict schema: unknown keys are errors (a typo must not
 * silently turn a protection off), every default is visible here, and the parsed result is frozen.
 */
import { consoleSchema } from './console-schema.js';
import { z } from 'zod';
import { authSchema, type ResolvedAuth } from './auth-schema.js';
import { httpUrl } from './url.js';

const port = z.number().int().min(0).max(65535);

// ---------- audit ----------

/** Sink names are metric labels and spool cursor keys: short, stable, and unique. */
const sinkName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, - and _ (at most 32)');
const sinkFormat = z.enum(['record', 'decision-log', 'audit-event']).default('record');
/** Name of an environment variable holding a secret (the secret itself never goes in the YAML). */
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name');
const redisNode = z.string().regex(/^(rediss?:\/\/)?[A-Za-z0-9.\-\[\]:]+:\d+$/, 'host:port');
const redisUrl = z
  .string()
  .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
  .refine((u) => URL.canParse(u) && /^\/?\d*$/.test(new URL(u).pathname), 'must be a valid redis://[user:password@]host:port[/db] URL (db a number)');

const fileSinkSchema = z.strictObject({
  type: z.literal('file'),
  name: sinkName.optional(),
  path: z.string().min(1),
  format: sinkFormat,
  /** Start a new file when the current one reaches maxBytes or is maxAgeSeconds old. */
  rotate: z.strictObject({ maxBytes: z.number().int().min(1024).optional(), maxAgeSeconds: z.number().int().min(1).optional() }).optional(),
});
const stdoutSinkSchema = z.strictObject({ type: z.literal('stdout'), name: sinkName.optional(), format: sinkFormat });
const redisSinkSchema = z
  .strictObject({
    type: z.literal('redis'),
    name: sinkName.optional(),
    format: sinkFormat,
    /** Standalone server, or credentials/TLS/db for Sentinel and Cluster; defaults to redis.url. */
    url: redisUrl.optional(),
    sentinel: z.strictObject({ name: z.string().min(1), nodes: z.array(redisNode).min(1) }).optional(),
    cluster: z.strictObject({ nodes: z.array(redisNode).min(1) }).optional(),
    stream: z.string().min(1).default('fhirgw:audit'),
    /** Approximate cap on the stream's length (XADD MAXLEN ~). */
    maxLen: z.number().int().min(1000).default(1_000_000),
  })
  .refine((s) => !(s.sentinel && s.cluster), 'sentinel and cluster are exclusive')
  .refine((s) => !s.cluster || /\{[^}]+\}/.test(s.stream), 'with cluster, the stream name needs a hash tag, e.g. {fhirgw}:audit');
const httpSinkSchema = z.strictObject({
  type: z.literal('http'),
  name: sinkName.optional(),
  format: sinkFormat,
  url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol) && !new URL(u).username, 'must be an http(s) URL without credentials'),
  encoding: z.enum(['json-array', 'ndjson', 'splunk-hec', 'loki']).default('json-array'),
  /** Non-secret headers. */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}),
  /** Environment variable holding the Authorization header value (e.g. `Splunk <token>`). */
  authorizationEnv: envName.optional(),
  timeoutMs: z.number().int().min(100).max(120000).default(10000),
});
const fhirSinkSchema = z.strictObject({
  type: z.literal('fhir'),
  name: sinkName.optional(),
  /** The audit repository's FHIR base URL. */
  url: httpUrl,
  authorizationEnv: envName.optional(),
  timeoutMs: z.number().int().min(100).max(120000).default(10000),
});
/** Review cases pushed to the privacy office (src/audit/sinks/webhook.ts): case records only, HMAC-signed. */
const webhookSinkSchema = z.strictObject({
  type: z.literal('webhook'),
  name: sinkName.optional(),
  url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol) && !new URL(u).username, 'must be an http(s) URL without credentials'),
  /** Environment variable holding the signing secret (at least 32 bytes). */
  secretEnv: envName,
  timeoutMs: z.number().int().min(100).max(120000).default(10000),
});
/**
 * The audit store: PostgreSQL (`url` without a password: PGPASSWORD or `urlEnv` carry it), or PGlite
 * embedded in the gateway (`embedded.dir`; single node and the demo). Exactly one of the three.
 */
const postgresSinkSchema = z
  .strictObject({
    type: z.literal('postgres'),
    name: sinkName.optional(),
    url: z
      .string()
      .refine((u) => URL.canParse(u) && /^postgres(ql)?:$/.test(new URL(u).protocol) && !new URL(u).password, 'must be a postgres:// URL without a password')
      .optional(),
    /** Environment variable holding the whole connection URL (with its password). */
    urlEnv: envName.optional(),
    embedded: z.strictObject({ dir: z.string().min(1) }).optional(),
    poolSize: z.number().int().min(1).max(64).default(4),
    /** Months records are kept (HIPAA: six years); whole monthly partitions are dropped after that. */
    retentionMonths: z.number().int().min(1).default(72),
  })
  .refine((s) => [s.url, s.urlEnv, s.embedded].filter((x) => x !== undefined).length === 1, 'set exactly one of url, urlEnv and embedded');

const auditSchema = z
  .strictObject({
    /** Without `sinks` (an `audit:` section that only sets the spool, say), the default: one stdout sink. */
    sinks: z.array(z.discriminatedUnion('type', [fileSinkSchema, stdoutSinkSchema, redisSinkSchema, httpSinkSchema, fhirSinkSchema, postgresSinkSchema, webhookSinkSchema])).min(1).default([{ type: 'stdout', format: 'record' }]),
    /** Without a spool directory records wait in memory: nothing survives a crash (a warning is logged). */
    spool: z
      .strictObject({
        dir: z.string().min(1).optional(),
        /** durable: the answer waits for the record's group-committed fdatasync. async: it does not. */
        durability: z.enum(['async', 'durable']).default('durable'),
        maxBytes: z.number().int().min(64 * 1024).default(1024 * 1024 * 1024),
        segmentBytes: z.number().int().min(4096).default(16 * 1024 * 1024),
        /** When the spool is full or unwritable. Defaults: fail-closed when durable, shed when async. */
        onFull: z.enum(['fail-closed', 'shed']).optional(),
      })
      .optional(),
    delivery: z
      .strictObject({
        batchSize: z.number().int().min(1).max(10000).default(200),
        /** Records kept in memory for sinks that keep up; a sink further behind reads the spool. */
        queueRecords: z.number().int().min(1).default(10000),
        retryInitialMs: z.number().int().min(1).default(200),
        retryMaxMs: z.number().int().min(1).default(30000),
        /** How long shutdown waits for sinks to take what is spooled. */
        closeTimeoutMs: z.number().int().min(0).default(5000),
      })
      .default({ batchSize: 200, queueRecords: 10000, retryInitialMs: 200, retryMaxMs: 30000, closeTimeoutMs: 5000 }),
    masking: z
      .strictObject({
        searchValues: z.enum(['remove', 'hash', 'keep']).default('remove'),
        /** Parameters whose values are always kept (they carry no patient data). */
        keepValuesOf: z.array(z.string()).default(['_count', '_sort', '_summary', '_elements', '_include', '_revinclude', '_total']),
      })
      .default({ searchValues: 'remove', keepValuesOf: ['_count', '_sort', '_summary', '_elements', '_include', '_revinclude', '_total'] }),
    /** The client's network address (the TCP peer) in records: BALP requires it; `omit` drops it (and the BALP profile claims). */
    clientAddress: z.enum(['record', 'omit']).default('record'),
    checkpoint: z
      .strictObject({ everyRecords: z.number().int().min(0).default(1000), everySeconds: z.number().int().min(0).default(60) })
      .default({ everyRecords: 1000, everySeconds: 60 }),
    /** File holding the audit HMAC key (or set FHIRGW_AUDIT_HMAC_KEY); never the key itself here. */
    hmacKeyFile: z.string().min(1).optional(),
  })
  .superRefine((audit, ctx) => {
    const names = new Set<string>();
    audit.sinks.forEach((sink, i) => {
      const name = sinkNameOf(sink, i, audit.sinks);
      if (names.has(name)) ctx.addIssue({ code: 'custom', path: ['sinks', i, 'name'], message: `duplicate sink name ${name}` });
      names.add(name);
    });
    // The access history and the privacy office read one store.
    if (audit.sinks.filter((s) => s.type === 'postgres').length > 1) ctx.addIssue({ code: 'custom', path: ['sinks'], message: 'at most one postgres sink (the audit store)' });
    if (audit.spool && audit.spool.durability === 'durable' && !audit.spool.dir) {
      ctx.addIssue({ code: 'custom', path: ['spool', 'dir'], message: 'durable mode needs a spool directory' });
    }
  });

/** A sink's name: as configured, else its type (suffixed with its position when the type repeats). */
export function sinkNameOf(sink: { type: string; name?: string | undefined }, index: number, all: ReadonlyArray<{ type: string }>): string {
  if (sink.name) return sink.name;
  return all.filter((s) => s.type === sink.type).length > 1 ? `${sink.type}-${index + 1}` : sink.type;
}

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: port.default(8080),
      /** Terminate TLS at the gateway (needed for certificate-bound tokens, RFC 8705). */
      tls: z
        .strictObject({
          certFile: z.string().min(1),
          keyFile: z.string().min(1),
          /** Ask clients for a certificate (never required at the TLS layer: a token bound to one is what requires it). */
          requestClientCertificate: z.boolean().default(true),
          /** How often the certificate and key files are checked for a renewal (installed without a restart). */
          reloadIntervalSeconds: z.number().int().min(1).max(86400).default(60),
        })
        .optional(),
    })
    .default({ host: '0.0.0.0', port: 8080 }),
  /** The FHIR base URL clients use. The API is served under its path; every link is rewritten to it. */
  publicBaseUrl: httpUrl,
  upstream: z.strictObject({
    url: httpUrl,
    timeoutMs: z.number().int().min(100).max(600000).default(30000),
    /** Largest upstream body the gateway will buffer and check; bigger answers fail closed with 502. */
    maxResponseBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
    /** TLS to an https upstream: a private CA, a client certificate (mTLS), the expected server name. */
    tls: z
      .strictObject({
        caFile: z.string().min(1).optional(),
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        serverName: z.string().min(1).optional(),
      })
      .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), 'certFile and keyFile go together')
      .optional(),
    /** The gateway's own credentials to the upstream (never the client's token, unless forwardClientToken). */
    auth: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('bearer'), tokenEnv: envName }),
        z.strictObject({
          type: z.literal('client-credentials'),
          tokenUrl: httpUrl,
          clientId: z.string().min(1),
          clientSecretEnv: envName,
          scope: z.string().min(1).optional(),
          audience: z.string().min(1).optional(),
          authMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
        }),
      ])
      .optional(),
    /** Pass the client's Authorization header on (an upstream that authorises each user itself). Off by default. */
    forwardClientToken: z.boolean().default(false),
    /** Stop calling an upstream that keeps failing; see src/proxy/circuit-breaker.ts and README. */
    circuitBreaker: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Fraction of the last `windowCalls` calls that must fail (unreachable, timeout, 502/503/504) to open the circuit. */
        failureRatio: z.number().gt(0).lt(1).default(0.5),
        windowCalls: z.number().int().min(1).max(10000).default(20),
        /** Calls in the window before the circuit may open at all. */
        minimumCalls: z.number().int().min(1).max(10000).default(10),
        /** How long an open circuit refuses calls (503) before one probe call is let through. */
        halfOpenAfterMs: z.number().int().min(100).max(600000).default(10000),
      })
      .refine((b) => b.minimumCalls <= b.windowCalls, 'minimumCalls cannot exceed windowCalls')
      .default({ enabled: true, failureRatio: 0.5, windowCalls: 20, minimumCalls: 10, halfOpenAfterMs: 10000 }),
    /** Server-specific paging parameters that appear in the upstream's `next` links. */
    pagingParameters: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_\-]*$/))
      .default(['_getpages', '_getpagesoffset', '_bundletype', '_offset', '_cursor', '_page_token', '_pageId', 'ct']),
  }),
  auth: authSchema,
  policy: z
    .strictObject({
      /** A bundle built by `opa build -t wasm`, watched for changes; defaults to the one shipped in policies/dist/. */
      bundle: z.string().min(1).optional(),
      /** An OPA bundle service instead of a file: polled with If-None-Match. */
      service: z
        .strictObject({
          url: httpUrl,
          pollSeconds: z.number().int().min(1).max(86400).default(60),
          /** Environment variable holding a bearer token for the service (secrets are never in this file). */
          tokenEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name').optional(),
        })
        .optional(),
      /** How often a bundle file (and the data file) are checked for changes. */
      watchIntervalMs: z.number().int().min(100).max(600000).default(2000),
      /** When set, only bundles signed by one of these keys are loaded (OPA's .signatures.json). */
      signing: z
        .strictObject({
          keys: z
            .array(
              z.strictObject({
                id: z.string().min(1),
                algorithm: z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
                publicKeyFile: z.string().min(1),
              }),
            )
            .min(1),
          scope: z.string().min(1).optional(),
        })
        .optional(),
      /** Deployment-specific data (JSON) merged over the bundle's data.json: role tables, code sets, ids. */
      data: z.string().min(1).optional(),
      /** A candidate bundle evaluated beside the enforcing one; disagreements are counted and logged. */
      shadow: z.strictObject({ bundle: z.string().min(1) }).optional(),
      /** Upper bound on the WebAssembly memory of the policy, in 64 KiB pages. */
      maxMemoryPages: z.number().int().min(16).max(65536).default(2048),
    })
    .default({ maxMemoryPages: 2048, watchIntervalMs: 2000 }),
  audit: auditSchema.default(auditSchema.parse({})),
  /** FHIR Bulk Data ($export) through the gateway. */
  bulk: z
    .strictObject({
      /** How long the gateway's status and file links stay valid. */
      linkTtlSeconds: z.number().int().min(60).max(7 * 86400).default(3600),
      /** Origins besides the upstream's where the upstream may put export files (object storage). */
      fileOrigins: z.array(httpUrl.transform((u) => new URL(u).origin)).default([]),
      /** Longest NDJSON line accepted from the upstream. */
      maxLineBytes: z.number().int().min(1024).max(512 * 1024 * 1024).default(16 * 1024 * 1024),
      /** Resources decided per policy evaluation while streaming a file. */
      batchSize: z.number().int().min(1).max(10000).default(500),
    })
    .default({ linkTtlSeconds: 3600, fileOrigins: [], maxLineBytes: 16 * 1024 * 1024, batchSize: 500 }),
  /**
   * Searches and histories are paged by the gateway (src/paging/pager.ts): page sizes, how far one
   * client page may read ahead upstream, how long a paging cursor lasts.
   */
  search: z
    .strictObject({
      /** Entries per page when the client gives no `_count`. */
      defaultCount: z.number().int().min(1).max(1000).default(20),
      /** The largest `_count` honoured (larger ones are capped). */
      maxCount: z.number().int().min(1).max(10000).default(1000),
      /** Upstream pages one client page may read to fill itself with released entries. */
      maxUpstreamPagesPerPage: z.number().int().min(1).max(100).default(10),
      /** How long a `next` link stays valid. */
      cursorTtlSeconds: z.number().int().min(60).max(86400).default(3600),
      /** Resources a conditional write's criteria, or a chained criterion's inner search, may select upstream before it is refused. */
      maxConditionalCandidates: z.number().int().min(1).max(100000).default(1000),
      /** Readable resources a chained criterion (`subject.name=`, `_has:`) may resolve to before it is refused (400). */
      maxChainMatches: z.number().int().min(1).max(10000).default(100),
    })
    .refine((s) => s.defaultCount <= s.maxCount, { message: 'defaultCount cannot exceed maxCount', path: ['defaultCount'] })
    .default({ defaultCount: 20, maxCount: 1000, maxUpstreamPagesPerPage: 10, cursorTtlSeconds: 3600, maxConditionalCandidates: 1000, maxChainMatches: 100 }),
  /**
   * The inappropriate-access detector and review cases (docs/privacy-office.md): a consumer of the
   * `redis` audit sink's stream (in the `record` format) in a consumer group shared by every replica,
   * opening cases in the audit store (the `postgres` sink). Off when absent.
   */
  detect: z
    .strictObject({
      /** The stream to consume (the redis sink's) and the consumer group. */
      stream: z.string().min(1).default('fhirgw:audit'),
      group: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/).default('fhirgw-detector'),
      /** This replica's consumer name (default: the host name, the pod name in Kubernetes). */
      consumer: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
      signals: z.array(z.enum(['unexplained', 'restricted', 'volume', 'after-hours', 'self-or-family'])).default(['unexplained', 'restricted', 'volume', 'after-hours', 'self-or-family']),
      restricted: z
        .strictObject({
          /** Patient security labels that make a patient restricted, `system|code` or `code`. */
          labels: z.array(z.string().min(1)).default(['http://terminology.hl7.org/CodeSystem/v3-ActCode|CEL', 'http://terminology.hl7.org/CodeSystem/v3-ActCode|EMP']),
          patients: z.array(z.string().min(1)).default([]),
        })
        .default({ labels: ['http://terminology.hl7.org/CodeSystem/v3-ActCode|CEL', 'http://terminology.hl7.org/CodeSystem/v3-ActCode|EMP'], patients: [] }),
      /** Working hours per role: `HH:MM` local times, ISO weekdays, an IANA time zone. */
      hours: z
        .record(
          z.string().min(1),
          z.strictObject({
            start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
            end: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
            days: z.array(z.number().int().min(1).max(7)).optional(),
            timeZone: z.string().refine((tz) => { try { new Intl.DateTimeFormat('en-US', { timeZone: tz }); return true; } catch { return false; } }, 'an IANA time zone'),
          }),
        )
        .default({}),
      /** Staff identities linked to their own Patient records and RelatedPersons: a JSON file of [{staff, patients, relatedPersons}]. */
      staffLinksFile: z.string().min(1).optional(),
      volume: z
        .strictObject({
          windowHours: z.number().int().min(24).max(24 * 90).default(336),
          minHistoryHours: z.number().int().min(1).default(8),
          zThreshold: z.number().min(1).default(3),
          minExcess: z.number().int().min(1).default(5),
          ceiling: z.number().int().min(1).default(100),
        })
        .default({ windowHours: 336, minHistoryHours: 8, zThreshold: 3, minExcess: 5, ceiling: 100 }),
      /** How long a patient's care relationships and labels are cached. */
      factsTtlSeconds: z.number().int().min(0).max(86400).default(600),
      /** Cases open longer than this are alerted on (FhirGatewayReviewCasesOverdue). */
      reviewWithinDays: z.number().int().min(1).default(7),
    })
    .optional(),
  /** The patients' FHIR Consent resources, read from the upstream for policy. */
  consent: z
    .strictObject({
      /** When false, policy receives no consents (and none are read). */
      enabled: z.boolean().default(true),
      /** How long a patient's Consents are cached (in Redis when configured, so replicas share it). */
      cacheTtlSeconds: z.number().int().min(0).max(86400).default(60),
    })
    .default({ enabled: true, cacheTtlSeconds: 60 }),
  /**
   * Shared state across replicas: revocations, DPoP replay markers, introspection answers, the
   * consent cache and rate-limit counters. Without it, all of these are per process.
   */
  redis: z
    .strictObject({
      /** Standalone server; with sentinel or cluster, only its credentials, TLS (rediss:) and db are used. */
      url: redisUrl.optional(),
      /** Sentinels that name the current primary (failover without reconfiguring the gateway). */
      sentinel: z.strictObject({ name: z.string().min(1), nodes: z.array(redisNode).min(1) }).optional(),
      /** Redis Cluster seed nodes. Every key shares one hash tag (keyPrefix), so multi-key commands stay on one slot. */
      cluster: z.strictObject({ nodes: z.array(redisNode).min(1) }).optional(),
      /** Prefix of every key; default `fhirgw:`, or `{fhirgw}:` with cluster. */
      keyPrefix: z.string().regex(/^[A-Za-z0-9:_{}-]{1,64}$/).optional(),
    })
    .superRefine((r, ctx) => {
      if (!r.url && !r.sentinel && !r.cluster) ctx.addIssue({ code: 'custom', path: ['url'], message: 'set url, sentinel or cluster' });
      if (r.sentinel && r.cluster) ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'sentinel and cluster are exclusive' });
      if (r.cluster && r.keyPrefix !== undefined && !/\{[^}]+\}/.test(r.keyPrefix)) {
        ctx.addIssue({ code: 'custom', path: ['keyPrefix'], message: 'with cluster, the prefix needs a hash tag, e.g. {fhirgw}:' });
      }
    })
    .transform((r) => ({ ...r, keyPrefix: r.keyPrefix ?? (r.cluster ? '{fhirgw}:' : 'fhirgw:') }))
    .optional(),
  /** Per-user and per-client request rate limits (sliding window; shared through Redis when configured). */
  rateLimit: z
    .strictObject({
      /** Requests per window for one user (token issuer + subject). */
      perUser: z.strictObject({ requests: z.number().int().min(1), windowSeconds: z.number().int().min(1).max(86400).default(60) }).optional(),
      /** Requests per window for one client application (issuer + client_id), all its users together. */
      perClient: z.strictObject({ requests: z.number().int().min(1), windowSeconds: z.number().int().min(1).max(86400).default(60) }).optional(),
      /** With the counter store unreachable: let requests through (allow) or refuse them with 503 (deny). */
      onStoreError: z.enum(['allow', 'deny']).default('allow'),
    })
    .optional(),
  /** Browser SMART apps (src/http/cors.ts): the origins whose pages may call the FHIR API. */
  cors: z
    .strictObject({
      /**
       * Exact origins (`https://app.example`, scheme, host and port only). No wildcard: the FHIR API
       * answers with patient data, so every origin allowed to read it cross-origin is named.
       */
      allowedOrigins: z
        .array(
          z.string().refine((o) => !o.includes('*') && URL.canParse(o) && ['http:', 'https:'].includes(new URL(o).protocol) && new URL(o).origin === o, {
            message: 'must be an exact origin such as https://app.example (scheme, host and optional port; no path, no trailing slash, no wildcard)',
          }),
        )
        .default([]),
      /** How long browsers may cache a preflight answer (Access-Control-Max-Age). */
      maxAgeSeconds: z.number().int().min(0).max(86400).default(600),
    })
    .default({ allowedOrigins: [], maxAgeSeconds: 600 }),
  limits: z
    .strictObject({
      maxRequestBodyBytes: z.number().int().min(1024).max(512 * 1024 * 1024).default(10 * 1024 * 1024),
      /** Largest batch or transaction accepted, in entries. */
      maxBundleEntries: z.number().int().min(1).max(10000).default(500),
    })
    .default({ maxRequestBodyBytes: 10 * 1024 * 1024, maxBundleEntries: 500 }),
  /** Graceful shutdown (SIGTERM): see src/lifecycle.ts and docs/operations.md. */
  lifecycle: z
    .strictObject({
      /** After SIGTERM, how long to keep serving while load balancers stop sending (0 when a preStop hook waits). */
      drainDelaySeconds: z.number().min(0).max(300).default(0),
      /** How long in-flight requests get to finish once the listener is closed; then they are cut. */
      shutdownGraceSeconds: z.number().min(0).max(600).default(20),
    })
    .default({ drainDelaySeconds: 0, shutdownGraceSeconds: 20 }),
  /** The console (src/console): a listener of its own; absent means off. */
  console: consoleSchema.optional(),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export type ConfigInput = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;

/** The validated configuration with the defaults derived from other keys filled in. */
export interface GatewayConfig extends Omit<ParsedConfig, 'auth' | 'policy'> {
  /** Issuers resolved: `auth.issuers` always set, every default applied (see auth-schema.ts). */
  readonly auth: ResolvedAuth;
  /** `bundle` is null when the policy comes from a bundle service. */
  readonly policy: Omit<ParsedConfig['policy'], 'bundle'> & { readonly bundle: string | null };
}
