/**
 * The gateway's configuration, as one strict schema: unknown keys are errors (a typo must not
 * silently turn a protection off), every default is visible here, and the parsed result is frozen.
 */
import { z } from 'zod';

const httpUrl = z
  .string()
  .refine((u) => {
    if (!URL.canParse(u)) return false;
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash && !url.username && !url.password;
  }, 'must be an absolute http(s) URL without query, fragment or credentials')
  .transform((u) => u.replace(/\/+$/, ''));

const port = z.number().int().min(0).max(65535);

const algorithm = z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);

export const claimMappingSchema = z.strictObject({
  /** Dotted path of the claim holding the user's roles (e.g. `realm_access.roles` for Keycloak, `groups` for Entra). */
  roles: z.string().min(1).default('roles'),
  /** Claim holding purpose-of-use codes (HL7 v3 ActReason: TREAT, ETREAT, HPAYMT, HRESCH, BTG, ...). */
  purposeOfUse: z.string().min(1).default('purpose_of_use'),
  patient: z.string().min(1).default('patient'),
  fhirUser: z.string().min(1).default('fhirUser'),
  scope: z.string().min(1).default('scope'),
});

const authSchema = z.strictObject({
  issuer: httpUrl,
  /** Where the issuer's keys are; when absent, read from `<issuer>/.well-known/smart-configuration`. */
  jwksUri: httpUrl.optional(),
  /** Expected `aud`; defaults to publicBaseUrl (SMART: the token's audience is the FHIR base URL). */
  audience: z.string().min(1).optional(),
  algorithms: z.array(algorithm).min(1).default(['RS256', 'ES256']),
  clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
  /** Largest accepted token, in bytes; bigger ones are refused before any parsing. */
  maxTokenBytes: z.number().int().min(512).max(65536).default(16384),
  claims: claimMappingSchema.default(claimMappingSchema.parse({})),
});

// ---------- audit ----------

/** Sink names are metric labels and spool cursor keys: short, stable, and unique. */
const sinkName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, - and _ (at most 32)');
const sinkFormat = z.enum(['record', 'decision-log', 'audit-event']).default('record');
/** Name of an environment variable holding a secret (the secret itself never goes in the YAML). */
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name');
const redisNode = z.string().regex(/^(rediss?:\/\/)?[A-Za-z0-9.\-\[\]:]+:\d+$/, 'host:port');
const redisUrl = z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL');

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

const auditSchema = z
  .strictObject({
    sinks: z.array(z.discriminatedUnion('type', [fileSinkSchema, stdoutSinkSchema, redisSinkSchema, httpSinkSchema, fhirSinkSchema])).min(1),
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
    .strictObject({ host: z.string().min(1).default('0.0.0.0'), port: port.default(8080) })
    .default({ host: '0.0.0.0', port: 8080 }),
  /** The FHIR base URL clients use. The API is served under its path; every link is rewritten to it. */
  publicBaseUrl: httpUrl,
  upstream: z.strictObject({
    url: httpUrl,
    timeoutMs: z.number().int().min(100).max(600000).default(30000),
    /** Largest upstream body the gateway will buffer and check; bigger answers fail closed with 502. */
    maxResponseBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
    /** Server-specific paging parameters that appear in the upstream's `next` links. */
    pagingParameters: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_\-]*$/))
      .default(['_getpages', '_getpagesoffset', '_bundletype', '_offset', '_cursor', '_page_token', '_pageId', 'ct']),
  }),
  auth: authSchema,
  policy: z
    .strictObject({
      /** A bundle built by `opa build -t wasm`; defaults to the one shipped in policies/dist/. */
      bundle: z.string().min(1).optional(),
      /** Upper bound on the WebAssembly memory of the policy, in 64 KiB pages. */
      maxMemoryPages: z.number().int().min(16).max(65536).default(2048),
    })
    .default({ maxMemoryPages: 2048 }),
  audit: auditSchema.default(auditSchema.parse({ sinks: [{ type: 'stdout' }] })),
  /** Shared state across replicas. Without it, caches and lists are per process. */
  redis: z
    .strictObject({
      url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
      keyPrefix: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/).default('fhirgw:'),
    })
    .optional(),
  limits: z
    .strictObject({
      maxRequestBodyBytes: z.number().int().min(1024).max(512 * 1024 * 1024).default(10 * 1024 * 1024),
    })
    .default({ maxRequestBodyBytes: 10 * 1024 * 1024 }),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export type ConfigInput = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;

/** The validated configuration with the defaults derived from other keys filled in. */
export interface GatewayConfig extends Omit<ParsedConfig, 'auth' | 'policy'> {
  readonly auth: ParsedConfig['auth'] & { readonly audience: string };
  readonly policy: ParsedConfig['policy'] & { readonly bundle: string };
}
