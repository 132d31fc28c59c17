/**
 * Secrets are never values in the configuration document: it names a file (a mounted secret) or
 * an environment variable, read once at start. A missing or empty secret stops start-up with a
 * ConfigError naming the key, like any other configuration problem. Secrets are never logged.
 */
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from './schema.js';
import { ConfigError } from './load.js';

export interface GatewaySecrets {
  /** Introspection client secrets, by issuer. */
  readonly introspection: ReadonlyMap<string, string>;
  /** The admin credential, or null when the admin endpoint is off. */
  readonly adminToken: string | null;
}

export const ADMIN_TOKEN_ENV = 'FHIRGW_ADMIN_TOKEN';
/** Shorter admin credentials are refused: it guards the revocation list. */
const MIN_ADMIN_TOKEN_LENGTH = 32;

export function readSecrets(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): GatewaySecrets {
  const introspection = new Map<string, string>();
  config.auth.issuers.forEach((issuer, i) => {
    const ref = issuer.introspection;
    if (!ref) return;
    const key = config.auth.issuers.length === 1 ? 'auth.introspection' : `auth.issuers.${i}.introspection`;
    introspection.set(issuer.issuer, readOne(ref.clientSecretFile, ref.clientSecretEnv, env, ref.clientSecretFile ? `${key}.clientSecretFile` : `${key}.clientSecretEnv`));
  });
  let adminToken: string | null = null;
  const file = config.auth.admin?.tokenFile;
  if (file !== undefined) adminToken = readOne(file, undefined, env, 'auth.admin.tokenFile');
  else if (env[ADMIN_TOKEN_ENV]) adminToken = readOne(undefined, ADMIN_TOKEN_ENV, env, ADMIN_TOKEN_ENV);
  if (adminToken !== null && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new ConfigError(file !== undefined ? 'auth.admin.tokenFile' : ADMIN_TOKEN_ENV, `the admin credential must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  }
  return { introspection, adminToken };
}

function readOne(file: string | undefined, envName: string | undefined, env: NodeJS.ProcessEnv, key: string): string {
  let value: string | undefined;
  if (file !== undefined) {
    try {
      value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(key, `cannot read the secret file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  } else if (envName !== undefined) {
    value = env[envName];
  }
  if (value === undefined || value === '') throw new ConfigError(key, `the secret is missing or empty${envName ? ` (environment variable ${envName})` : ''}`);
  return value;
}

/** Keys read from the environment (base64, at least 32 bytes); see `envKey`. */
export const ENV_KEYS = ['FHIRGW_CURSOR_KEY', 'FHIRGW_BULK_LINK_KEY', 'FHIRGW_PSEUDONYM_KEY'] as const;

/**
 * A key from the environment (base64, at least 32 bytes): secrets never live in the config file.
 * Without one, a random key per process is used, which works only within that process: Bulk Data
 * links (FHIRGW_BULK_LINK_KEY) and paging cursors (FHIRGW_CURSOR_KEY) from one replica fail on
 * another, and de-identified pseudonyms (FHIRGW_PSEUDONYM_KEY) change at restart.
 */
export function envKey(name: (typeof ENV_KEYS)[number], env: NodeJS.ProcessEnv): Uint8Array | null {
  const value = env[name];
  if (value === undefined || value === '') return null;
  const key = Buffer.from(value, 'base64');
  if (key.length < 32) throw new ConfigError(name, 'must be at least 32 bytes, base64-encoded');
  return new Uint8Array(key);
}
