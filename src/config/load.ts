/**
 * Loading: YAML file -> environment overrides -> schema validation -> derived defaults -> deep freeze.
 * Any problem stops start-up with a ConfigError naming the key (`upstream.timeoutMs: ...`).
 */
import { ConfigError, type ConfigProblem } from '../errors-config.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { resolveAuth } from './auth-schema.js';
import { configSchema, type GatewayConfig } from './schema.js';

export { ConfigError } from '../errors-config.js';

/**
 * Environment variables that override keys of the file. The README's table is checked against
 * this list by a test, so add a row there when you add one here.
 */
export const ENV_OVERRIDES: ReadonlyArray<{ readonly env: string; readonly key: string; readonly kind: 'string' | 'integer' }> = [
  { env: 'FHIRGW_LISTEN_HOST', key: 'listen.host', kind: 'string' },
  { env: 'FHIRGW_LISTEN_PORT', key: 'listen.port', kind: 'integer' },
  { env: 'FHIRGW_PUBLIC_BASE_URL', key: 'publicBaseUrl', kind: 'string' },
  { env: 'FHIRGW_UPSTREAM_URL', key: 'upstream.url', kind: 'string' },
  { env: 'FHIRGW_UPSTREAM_TIMEOUT_MS', key: 'upstream.timeoutMs', kind: 'integer' },
  { env: 'FHIRGW_AUTH_ISSUER', key: 'auth.issuer', kind: 'string' },
  { env: 'FHIRGW_AUTH_JWKS_URI', key: 'auth.jwksUri', kind: 'string' },
  { env: 'FHIRGW_AUTH_AUDIENCE', key: 'auth.audience', kind: 'string' },
  { env: 'FHIRGW_POLICY_BUNDLE', key: 'policy.bundle', kind: 'string' },
  { env: 'FHIRGW_LOG_LEVEL', key: 'log.level', kind: 'string' },
  { env: 'FHIRGW_REDIS_URL', key: 'redis.url', kind: 'string' },
  { env: 'FHIRGW_AUDIT_SPOOL_DIR', key: 'audit.spool.dir', kind: 'string' },
  { env: 'FHIRGW_AUDIT_DURABILITY', key: 'audit.spool.durability', kind: 'string' },
  { env: 'FHIRGW_AUDIT_HMAC_KEY_FILE', key: 'audit.hmacKeyFile', kind: 'string' },
];

/** The compiled default policy bundle shipped with the package. */
export const DEFAULT_POLICY_BUNDLE = fileURLToPath(new URL('../../policies/dist/bundle.tar.gz', import.meta.url));

export interface LoadOptions {
  /** Environment to read overrides from (defaults to process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Directory that relative file paths in the document are resolved against. */
  readonly baseDir?: string;
}

export function loadConfigFile(file: string, options: LoadOptions = {}): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, strict: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    throw new ConfigError('', `${file} is not valid YAML${where}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  return buildConfig(doc ?? {}, { ...options, baseDir: options.baseDir ?? path.dirname(path.resolve(file)) });
}

/**
 * Validates a configuration document (already parsed) and returns the frozen config. Every problem
 * is reported at once (one ConfigError listing them all), not only the first.
 */
export function buildConfig(doc: unknown, options: LoadOptions = {}): GatewayConfig {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError('', 'the configuration must be a mapping of keys to values');
  }
  const problems: ConfigProblem[] = [];
  const withEnv = applyEnvOverrides(structuredClone(doc) as Record<string, unknown>, options.env ?? process.env, problems);
  const result = configSchema.safeParse(withEnv);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push({ key: [...issue.path.map(String), key].join('.'), problem: 'unknown key (check its spelling and nesting)' });
      } else {
        problems.push({ key: issue.path.map(String).join('.'), problem: issue.message });
      }
    }
  }
  if (!result.success || problems.length > 0) throw new ConfigError(problems.length > 0 ? problems : [{ key: '', problem: 'invalid' }]);
  const parsed = result.data;
  const baseDir = options.baseDir ?? process.cwd();
  const resolveFile = (file: string): string => path.resolve(baseDir, file);
  const auth = resolveAuth(parsed.auth, parsed.publicBaseUrl);
  const config: GatewayConfig = {
    ...parsed,
    upstream: parsed.upstream.tls ? { ...parsed.upstream, tls: resolveFiles(parsed.upstream.tls, ['caFile', 'certFile', 'keyFile'], resolveFile) } : parsed.upstream,
    listen: parsed.listen.tls ? { ...parsed.listen, tls: { ...parsed.listen.tls, certFile: resolveFile(parsed.listen.tls.certFile), keyFile: resolveFile(parsed.listen.tls.keyFile) } } : parsed.listen,
    auth: {
      ...auth,
      issuers: auth.issuers.map((i) =>
        i.introspection?.clientSecretFile ? { ...i, introspection: { ...i.introspection, clientSecretFile: resolveFile(i.introspection.clientSecretFile) } } : i,
      ),
      admin: auth.admin?.tokenFile ? { tokenFile: resolveFile(auth.admin.tokenFile) } : auth.admin,
    },
    policy: resolvePolicy(parsed.policy, (file) => path.resolve(baseDir, file), problems),
    audit: {
      ...parsed.audit,
      sinks: parsed.audit.sinks.map((sink) =>
        sink.type === 'file' ? { ...sink, path: path.resolve(baseDir, sink.path) } : sink.type === 'postgres' && sink.embedded ? { ...sink, embedded: { dir: path.resolve(baseDir, sink.embedded.dir) } } : sink,
      ),
      ...(parsed.audit.spool ? { spool: { ...parsed.audit.spool, ...(parsed.audit.spool.dir ? { dir: path.resolve(baseDir, parsed.audit.spool.dir) } : {}) } } : {}),
      ...(parsed.audit.hmacKeyFile ? { hmacKeyFile: path.resolve(baseDir, parsed.audit.hmacKeyFile) } : {}),
    },
  };
  checkCrossFieldRules(config, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/**
 * `FHIRGW_*` variables that are neither overrides nor secrets the gateway reads: most likely a
 * misspelling (`FHIRGW_LISTEN_PROT`), which would otherwise be ignored without a word.
 */
export function unknownEnvironmentVariables(env: NodeJS.ProcessEnv, config?: GatewayConfig): string[] {
  const known = new Set<string>([...ENV_OVERRIDES.map((o) => o.env), ...KNOWN_ENV, ...(config ? referencedEnvNames(config) : [])]);
  return Object.keys(env).filter((name) => name.startsWith('FHIRGW_') && !known.has(name) && !KUBERNETES_SERVICE_LINK.test(name)).sort();
}

/** What Kubernetes injects for a Service named `fhirgw` (service links): not the gateway's to judge. */
const KUBERNETES_SERVICE_LINK = /^FHIRGW_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

/**
 * Variables the gateway reads besides the overrides: its secrets (README, "Secrets"), the `opa` it
 * runs, and the knobs of the repository's own test and benchmark tools.
 */
const KNOWN_ENV = [
  'FHIRGW_ADMIN_TOKEN', 'FHIRGW_AUDIT_HMAC_KEY', 'FHIRGW_BULK_LINK_KEY', 'FHIRGW_CURSOR_KEY', 'FHIRGW_PSEUDONYM_KEY', 'FHIRGW_OPA',
  'FHIRGW_BENCH_CODE', 'FHIRGW_PROPERTY_RUNS', 'FHIRGW_LEAK_CASES', 'FHIRGW_LEAK_SEED', 'FHIRGW_NI_CASES', 'FHIRGW_NI_SEED',
];

/** Environment variables the configuration names for its secrets (`authorizationEnv`, `tokenEnv`, `clientSecretEnv`, ...). */
function referencedEnvNames(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencedEnvNames(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k.endsWith('Env') && typeof v === 'string') out.push(v);
      else referencedEnvNames(v, out);
    }
  }
  return out;
}

function resolveFiles<T extends Record<string, unknown>>(section: T, keys: ReadonlyArray<keyof T>, resolve: (file: string) => string): T {
  const out: Record<string, unknown> = { ...section };
  for (const key of keys) if (typeof section[key] === 'string') out[key as string] = resolve(section[key] as string);
  return out as T;
}

function resolvePolicy(policy: Omit<GatewayConfig['policy'], 'bundle'> & { bundle?: string | undefined }, resolve: (file: string) => string, problems: ConfigProblem[]): GatewayConfig['policy'] {
  if (policy.bundle && policy.service) problems.push({ key: 'policy.service', problem: 'give either policy.bundle or policy.service, not both' });
  return {
    ...policy,
    bundle: policy.service ? null : policy.bundle ? resolve(policy.bundle) : DEFAULT_POLICY_BUNDLE,
    ...(policy.data ? { data: resolve(policy.data) } : {}),
    ...(policy.shadow ? { shadow: { bundle: resolve(policy.shadow.bundle) } } : {}),
    ...(policy.signing ? { signing: { ...policy.signing, keys: policy.signing.keys.map((k) => ({ ...k, publicKeyFile: resolve(k.publicKeyFile) })) } } : {}),
  };
}

function checkCrossFieldRules(config: GatewayConfig, problems: ConfigProblem[]): void {
  const problem = (key: string, text: string): void => void problems.push({ key, problem: text });
  if (config.upstream.forwardClientToken && config.upstream.auth) {
    problem('upstream.forwardClientToken', 'cannot be used with upstream.auth: the upstream gets either the client\'s token or the gateway\'s credentials');
  }
  if (config.upstream.tls && new URL(config.upstream.url).protocol !== 'https:') problem('upstream.tls', 'needs an https upstream.url');
  const advertised = config.auth.discovery.issuer;
  if (advertised !== undefined && !config.auth.issuers.some((i) => i.issuer === advertised)) {
    problem('auth.discovery.issuer', 'must be one of the configured issuers');
  }
  const base = new URL(config.publicBaseUrl);
  if (base.pathname === '/' || base.pathname === '') {
    problem('publicBaseUrl', 'must have a path (e.g. https://host/fhir) so /healthz, /readyz and /metrics stay outside the FHIR API');
  }
  if (['/healthz', '/readyz', '/metrics'].some((p) => base.pathname === p || base.pathname.startsWith(`${p}/`))) {
    problem('publicBaseUrl', 'its path must not overlap /healthz, /readyz or /metrics');
  }
}

function applyEnvOverrides(doc: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): Record<string, unknown> {
  for (const { env: name, key, kind } of ENV_OVERRIDES) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (kind === 'integer') {
      if (!/^-?\d+$/.test(raw)) {
        problems.push({ key, problem: `${name} must be an integer` });
        continue;
      }
      value = Number(raw);
    }
    setPath(doc, key.split('.'), value, name, problems);
  }
  return doc;
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown, envName: string, problems: ConfigProblem[]): void {
  let node = target;
  for (const [i, key] of keys.entries()) {
    if (i === keys.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (next === undefined) node[key] = {};
    else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      problems.push({ key: keys.slice(0, i + 1).join('.'), problem: `cannot apply ${envName}: not a mapping` });
      return;
    }
    node = node[key] as Record<string, unknown>;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
