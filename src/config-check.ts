/**
 * `fhir-gateway config check --config FILE`: a dry run of start-up. It validates the file (every
 * problem at once), resolves what it names (files, secrets, the listener's certificate, the
 * upstream's TLS files and credentials), fetches each issuer's discovery document and JWKS, and
 * loads the policy bundle; then prints the configuration it would run with, secrets masked. Nothing
 * is listened on, no spool is opened or created, no audit record is written, Redis is not contacted.
 *
 * Exit codes: 0 the gateway would start and become ready, 2 any problem (listed, each with its key).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { stringify as toYaml } from 'yaml';
import { loadAuditKey } from './audit/open.js';
import { createParamMasker } from './audit/mask.js';
import { fetchFailureText, fetchJson, loggableUrl } from './auth/fetch-json.js';
import { createIssuerMetadataSource, jwksUriOf } from './auth/issuer-metadata.js';
import { loadConfigFile, unknownEnvironmentVariables } from './config/load.js';
import type { GatewayConfig } from './config/schema.js';
import { ENV_KEYS, envKey, readSecrets } from './config/secrets.js';
import { ConfigError, type ConfigProblem } from './errors-config.js';
import { createLogger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { BundleError } from './policy/bundle-error.js';
import { startPolicySources } from './policy/wiring.js';
import { createUpstreamAccess } from './proxy/upstream-access.js';
import { listenerCertificate } from './tls/certificate-reload.js';

export interface CheckReport {
  readonly problems: readonly ConfigProblem[];
  readonly warnings: readonly string[];
  /** What was checked and found good, one line each. */
  readonly passed: readonly string[];
  /** The resolved configuration, secrets masked (null when the file itself is invalid). */
  readonly resolved: unknown;
}

export interface CheckOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly fetchTimeoutMs?: number;
}

export async function checkConfig(file: string, options: CheckOptions = {}): Promise<CheckReport> {
  const env = options.env ?? process.env;
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const passed: string[] = [];
  let config: GatewayConfig;
  try {
    config = loadConfigFile(file, { env });
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems, warnings, passed, resolved: null };
    throw err;
  }
  passed.push(`configuration ${path.resolve(file)} is valid`);
  const unknown = unknownEnvironmentVariables(env, config);
  if (unknown.length > 0) warnings.push(`unknown FHIRGW_* environment variables are ignored (misspelt?): ${unknown.join(', ')}`);

  const attempt = (what: string, run: () => void): void => {
    try {
      run();
      passed.push(what);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else problems.push({ key: '', problem: `${what}: ${err instanceof Error ? err.message : String(err)}` });
    }
  };

  attempt('secrets (introspection, admin credential) are readable', () => void readSecrets(config, env));
  attempt('the audit key and search-value masking', () => void createParamMasker(config.audit.masking, loadAuditKey(config.audit, env)));
  for (const name of ENV_KEYS) attempt(`${name} ${env[name] ? 'is set' : 'is not set (a per-process random key is used)'}`, () => void envKey(name, env));
  attempt('the upstream TLS files and credentials', () => createUpstreamAccess(config, env).close());
  if (config.listen.tls) {
    const tls = config.listen.tls;
    attempt('the listener certificate and key', () => void listenerCertificate(tls));
  }
  checkAuditPaths(config, env, problems, passed);
  await checkIssuers(config, options.fetchTimeoutMs ?? 5000, problems, warnings, passed);
  await checkPolicy(config, env, problems, passed);
  return { problems, warnings, passed, resolved: masked(config) };
}

/** The report as the command prints it. */
export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [];
  for (const p of report.passed) lines.push(`ok       ${p}`);
  for (const w of report.warnings) lines.push(`warning  ${w}`);
  for (const p of report.problems) lines.push(`problem  ${p.key || '(root)'}: ${p.problem}`);
  if (report.resolved !== null) lines.push('', '# the configuration the gateway would run with (secrets masked)', toYaml(report.resolved).trimEnd());
  lines.push('', report.problems.length === 0 ? 'config check: the gateway would start with this configuration' : `config check: ${report.problems.length} problem(s)`);
  return `${lines.join('\n')}\n`;
}

/** Directories the gateway would create or write: checked without creating anything. */
function checkAuditPaths(config: GatewayConfig, env: NodeJS.ProcessEnv, problems: ConfigProblem[], passed: string[]): void {
  const writable = (key: string, dir: string): void => {
    let existing = dir;
    while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
    try {
      accessSync(existing, constants.W_OK | constants.X_OK);
      passed.push(`${key}: ${dir} can be written`);
    } catch (err) {
      problems.push({ key, problem: `cannot write ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'} (at ${existing})` });
    }
  };
  if (config.audit.spool?.dir) writable('audit.spool.dir', config.audit.spool.dir);
  config.audit.sinks.forEach((sink, i) => {
    if (sink.type === 'file') writable(`audit.sinks.${i}.path`, path.dirname(sink.path));
    if ((sink.type === 'http' || sink.type === 'fhir') && sink.authorizationEnv && !env[sink.authorizationEnv]) {
      problems.push({ key: `audit.sinks.${i}.authorizationEnv`, problem: `environment variable ${sink.authorizationEnv} is not set` });
    }
    if (sink.type === 'redis' && !sink.url && !sink.sentinel && !sink.cluster && !config.redis) {
      problems.push({ key: `audit.sinks.${i}`, problem: 'set its url, sentinel or cluster, or redis.*' });
    }
  });
}

/** Each issuer's discovery document and JWKS, fetched as the gateway would fetch them. */
async function checkIssuers(config: GatewayConfig, timeoutMs: number, problems: ConfigProblem[], warnings: string[], passed: string[]): Promise<void> {
  const single = config.auth.issuers.length === 1;
  await Promise.all(
    config.auth.issuers.map(async (issuer, i) => {
      const keyOf = (field: string): string => (single ? `auth.${field}` : `auth.issuers.${i}.${field}`);
      if (issuer.introspection !== undefined) {
        passed.push(`issuer ${issuer.issuer}: tokens are introspected (no keys to fetch)`);
        return;
      }
      let jwksUri = issuer.jwksUri;
      try {
        const metadata = await createIssuerMetadataSource(issuer.issuer, { timeoutMs, maxAgeMs: 0 }).get();
        passed.push(`issuer ${issuer.issuer}: discovery document fetched`);
        jwksUri ??= jwksUriOf(metadata);
      } catch (err) {
        const why = `discovery document (${issuer.issuer}/.well-known/smart-configuration or openid-configuration) cannot be fetched: ${fetchFailureText(err)}`;
        if (jwksUri === undefined) {
          problems.push({ key: keyOf('issuer'), problem: `${why}; set ${keyOf('jwksUri')} or fix the issuer` });
          return;
        }
        warnings.push(`issuer ${issuer.issuer}: ${why} (its JWKS is configured; SMART discovery for it is unavailable)`);
      }
      try {
        const doc = await fetchJson(jwksUri, { timeoutMs });
        createLocalJWKSet(doc as JSONWebKeySet);
        const count = (doc as JSONWebKeySet).keys.length;
        if (count === 0) throw new Error('the JWKS has no keys');
        passed.push(`issuer ${issuer.issuer}: JWKS ${loggableUrl(jwksUri)} has ${count} key(s)`);
      } catch (err) {
        problems.push({ key: issuer.jwksUri ? keyOf('jwksUri') : keyOf('issuer'), problem: `JWKS ${loggableUrl(jwksUri)} cannot be used: ${fetchFailureText(err)}` });
      }
    }),
  );
}

async function checkPolicy(config: GatewayConfig, env: NodeJS.ProcessEnv, problems: ConfigProblem[], passed: string[]): Promise<void> {
  const key = config.policy.service ? 'policy.service' : 'policy.bundle';
  try {
    const policies = await startPolicySources(config, env, createMetrics(), createLogger('silent'));
    try {
      const current = policies.current();
      if (current === null) problems.push({ key, problem: 'no bundle could be fetched from the bundle service' });
      else passed.push(`policy bundle loaded (revision ${current.revision})`);
    } finally {
      policies.close();
    }
  } catch (err) {
    problems.push({ key, problem: err instanceof BundleError ? err.message : err instanceof ConfigError ? err.message : err instanceof Error ? err.name : 'error' });
  }
}

/** The configuration as printed: credentials in URLs and header values replaced. */
function masked(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => masked(v));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'headers' && typeof v === 'object' && v !== null ? Object.fromEntries(Object.keys(v).map((h) => [h, '***'])) : masked(v, k)]));
  }
  if (typeof value === 'string' && key !== '' && URL.canParse(value)) {
    const u = new URL(value);
    if (u.password !== '' || u.username !== '') {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
      return u.toString();
    }
  }
  return value;
}
