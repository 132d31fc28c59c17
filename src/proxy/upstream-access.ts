/**
 * How the gateway reaches its upstream FHIR server, in one place: TLS (a private CA, a client
 * certificate for mTLS, the expected server name) and the gateway's own credentials (a static
 * bearer token, or an OAuth 2.0 client-credentials token refreshed before it expires). The
 * forwarder, the gateway's own reads (stored versions, Consents) and Bulk Data status and manifest
 * requests all go through it. Credentials are only ever sent to the upstream's origin: Bulk Data
 * files on other origins (object storage) are fetched without them.
 *
 * The client's own token is not forwarded, unless `upstream.forwardClientToken` says so (an
 * upstream that authorises per user itself); that is exclusive with `upstream.auth`.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Agent, fetch as undiciFetch } from 'undici';
import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { GatewayError } from '../errors.js';
import { GATEWAY_USER_AGENT } from './headers.js';

export interface UpstreamAccess {
  /** The upstream's origin, e.g. https://fhir.internal:8443 (credentials go nowhere else). */
  readonly origin: string;
  /** The connection pool for node:http(s) requests (the forwarder), with the TLS settings. */
  readonly agent: http.Agent;
  /** The same TLS settings without keep-alive: for a retry that must not reuse a pooled connection. */
  readonly freshAgent: http.Agent;
  /** fetch for URLs on the upstream's origin, with the TLS settings. */
  fetch(url: string, init: RequestInit): Promise<Response>;
  /** Headers carrying the gateway's own credentials (empty without `upstream.auth`). */
  credentials(): Promise<Record<string, string>>;
  /** When the client certificate presented to the upstream (mTLS) expires; null without one. */
  readonly clientCertificateNotAfter: Date | null;
  /** Whether the client's Authorization header is passed on. */
  readonly forwardClientToken: boolean;
  close(): void;
}

/** A token from a client-credentials grant, for as long as it lives (minus the refresh margin). */
interface CachedToken {
  readonly value: string;
  readonly refreshAt: number;
}

/** Tokens are renewed this long before they expire, so a request never leaves with a dying one. */
export const REFRESH_MARGIN_MS = 30_000;

export function createUpstreamAccess(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env, now: () => number = Date.now): UpstreamAccess {
  const upstream = config.upstream;
  const origin = new URL(upstream.url).origin;
  const tls = upstream.tls ? readTls(upstream.tls) : {};
  const agentOptions = { keepAlive: true, maxSockets: 512, maxFreeSockets: 64 };
  const agent = origin.startsWith('https:') ? new https.Agent({ ...agentOptions, ...tls }) : new http.Agent(agentOptions);
  const freshAgent = origin.startsWith('https:') ? new https.Agent({ keepAlive: false, ...tls }) : new http.Agent({ keepAlive: false });
  const dispatcher = new Agent({ connect: { ...tls }, keepAliveTimeout: 30_000 });
  const fetchUpstream = (url: string, init: RequestInit): Promise<Response> =>
    undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher }) as unknown as Promise<Response>;

  const auth = upstream.auth;
  let credentials: () => Promise<Record<string, string>> = async () => ({});
  if (auth?.type === 'bearer') {
    const token = secret(env, auth.tokenEnv, 'upstream.auth.tokenEnv');
    credentials = async () => ({ authorization: `Bearer ${token}` });
  } else if (auth?.type === 'client-credentials') {
    const clientSecret = secret(env, auth.clientSecretEnv, 'upstream.auth.clientSecretEnv');
    let cached: CachedToken | null = null;
    let pending: Promise<CachedToken> | null = null;
    const obtain = async (): Promise<CachedToken> => {
      const body = new URLSearchParams({ grant_type: 'client_credentials', ...(auth.scope ? { scope: auth.scope } : {}), ...(auth.audience ? { audience: auth.audience } : {}) });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': GATEWAY_USER_AGENT };
      if (auth.authMethod === 'client_secret_basic') headers['authorization'] = `Basic ${Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
      else {
        body.set('client_id', auth.clientId);
        body.set('client_secret', clientSecret);
      }
      let answer: { access_token?: unknown; expires_in?: unknown; token_type?: unknown };
      try {
        const res = await fetch(auth.tokenUrl, { method: 'POST', headers, body: body.toString(), redirect: 'manual', signal: AbortSignal.timeout(upstream.timeoutMs) });
        if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}`);
        answer = (await res.json()) as typeof answer;
      } catch (err) {
        throw new GatewayError('upstream_unavailable', { reasons: ['upstream.credentials'], cause: err });
      }
      if (typeof answer.access_token !== 'string' || answer.access_token === '' || (typeof answer.token_type === 'string' && answer.token_type.toLowerCase() !== 'bearer')) {
        throw new GatewayError('upstream_unavailable', { reasons: ['upstream.credentials'] });
      }
      const lifetimeMs = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in * 1000 : 300_000;
      return { value: answer.access_token, refreshAt: now() + Math.max(lifetimeMs - REFRESH_MARGIN_MS, lifetimeMs / 2) };
    };
    credentials = async () => {
      if (cached === null || now() >= cached.refreshAt) {
        // Concurrent requests share one token request.
        pending ??= obtain().finally(() => (pending = null));
        cached = await pending;
      }
      return { authorization: `Bearer ${cached.value}` };
    };
  }

  return {
    origin,
    agent,
    freshAgent,
    fetch: fetchUpstream,
    credentials,
    forwardClientToken: upstream.forwardClientToken,
    clientCertificateNotAfter: tls.cert ? new Date(new X509Certificate(tls.cert).validTo) : null,
    close() {
      agent.destroy();
      freshAgent.destroy();
      void dispatcher.close().catch(() => undefined);
    },
  };
}

/** The TLS options of `upstream.tls`, files read once at start (a missing file names its key). */
function readTls(tls: NonNullable<GatewayConfig['upstream']['tls']>): { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string } {
  const read = (file: string, key: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  return {
    ...(tls.caFile ? { ca: read(tls.caFile, 'upstream.tls.caFile') } : {}),
    ...(tls.certFile ? { cert: read(tls.certFile, 'upstream.tls.certFile') } : {}),
    ...(tls.keyFile ? { key: read(tls.keyFile, 'upstream.tls.keyFile') } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
  };
}

function secret(env: NodeJS.ProcessEnv, name: string, key: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(key, `the secret is missing or empty (environment variable ${name})`);
  return value;
}
