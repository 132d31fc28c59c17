/**
 * The console's HTTP application: sign-in (OpenID Connect authorization code with PKCE, through
 * openid-client), sessions, the JSON API the pages are built on, and the built front end.
 *
 * Every answer carries the gateway's no-store headers and the console's own strict CSP (no inline
 * script, `frame-ancestors 'none'`). Every API call and every sign-in or sign-out is an audit
 * record with the console user as principal. Which role may call what is one table (ROUTES).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type Request, type Response } from 'express';
import * as oidc from 'openid-client';
import type { AuditTrail } from '../audit/trail.js';
import { isLoopbackUrl } from '../config/console-schema.js';
import { principalFromClaims, type ClaimMapping, type Principal } from '../auth/principal.js';
import { asGatewayError, GatewayError } from '../errors.js';
import type { FhirRequest, HttpMethod } from '../fhir/request.js';
import type { Logger } from '../observability/logger.js';
import { SECURITY_HEADERS } from '../proxy/headers.js';
import {
  clearCookie,
  CONSOLE_ROLES,
  csrfMatches,
  LOGIN_COOKIE,
  readCookie,
  SESSION_COOKIE,
  setCookie,
  type ConsoleRole,
  type ConsoleUser,
  type Session,
  SessionStore,
} from './session.js';

/** No inline script or style anywhere; the front end is files served from this origin. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface ApiContext {
  readonly session: Session;
  readonly req: Request;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
  /** A CSV or PDF export instead of JSON. */
  readonly contentType?: string;
  readonly filename?: string;
}

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** Path under /api, `:name` segments as parameters. */
  readonly path: string;
  /** The console roles that may call it (any one of them). */
  readonly roles: readonly ConsoleRole[];
  /** The action's name in the audit record (`console.<action>`). */
  readonly action: string;
  readonly handle: (ctx: ApiContext, params: Readonly<Record<string, string>>) => Promise<ApiAnswer>;
}

export interface ConsoleAppParts {
  /** The URL users open, without trailing slash. */
  readonly publicUrl: string;
  readonly oidc: oidc.Configuration;
  readonly scope: string;
  readonly claims: ClaimMapping;
  readonly sessions: SessionStore;
  readonly sessionTtlSeconds: number;
  readonly routes: readonly ApiRoute[];
  readonly audit: AuditTrail;
  readonly policyRevision: () => string;
  readonly logger: Logger;
  /** The built front end (index.html and its assets); null serves a page that says it is not built. */
  readonly assetsDir: string | null;
}

export function createConsoleApp(parts: ConsoleAppParts): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.set('trust proxy', false);
  const origin = new URL(parts.publicUrl).origin;
  // Outside loopback the cookies are Secure (the schema requires https there).
  const secure = !isLoopbackUrl(parts.publicUrl);
  const redirectUri = `${parts.publicUrl}/callback`;
  const cookie = { secure, sameSite: 'Strict' as const };

  app.use((_req, res, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.setHeader('content-security-policy', CONSOLE_CSP);
    res.setHeader('cross-origin-opener-policy', 'same-origin');
    res.setHeader('cross-origin-resource-policy', 'same-origin');
    res.setHeader('x-frame-options', 'DENY');
    next();
  });

  const sessionOf = (req: Request): Session | null => parts.sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE));

  /** One audit record per console action: the user as principal, the action as an operation. */
  const record = async (req: Request, principal: Principal | null, action: string, status: number, error: GatewayError | null, params: Readonly<Record<string, string>>): Promise<void> => {
    const request: FhirRequest = {
      method: (req.method as HttpMethod) ?? 'GET',
      interaction: 'operation',
      type: null,
      id: params['id'] ?? null,
      version: null,
      compartment: null,
      operation: `console.${action}`,
      params: Object.entries(filtersOf(req)).map(([name, value]) => ({ name, modifier: null, value, values: [value] })),
      searchViaPost: false,
      ifNoneExist: null,
    };
    const start = process.hrtime.bigint();
    await parts.audit.record({
      requestId: randomUUID(),
      decisionId: randomUUID(),
      time: new Date(),
      request,
      principal,
      decision: error ? null : { allow: true, reasons: ['console.ok'], obligations: {} },
      summary: null,
      policyRevision: parts.policyRevision(),
      status,
      error,
      durationSeconds: Number(process.hrtime.bigint() - start) / 1e9,
      clientAddress: req.socket.remoteAddress ?? null,
    });
  };

  const fail = async (req: Request, res: Response, err: unknown, principal: Principal | null, action: string, params: Readonly<Record<string, string>> = {}): Promise<void> => {
    const e = asGatewayError(err);
    if (e.status >= 500) parts.logger.error({ err: e.cause instanceof Error ? e.cause.name : e.code, action }, 'console action failed');
    try {
      await record(req, principal, action, e.status, e, params);
    } catch {
      // The refusal is answered whether or not it could be recorded; a success never is (see below).
    }
    if (!res.headersSent) res.status(e.status).type('application/json').send(JSON.stringify({ error: e.code, message: e.message, ...(e.status < 500 && e.parameter ? { detail: e.parameter } : {}) }));
  };

  app.get('/login', (req, res) => {
    (async () => {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const challenge = await oidc.calculatePKCECodeChallenge(verifier);
      const loginId = parts.sessions.startLogin({ verifier, state, nonce });
      const url = oidc.buildAuthorizationUrl(parts.oidc, { redirect_uri: redirectUri, scope: parts.scope, code_challenge: challenge, code_challenge_method: 'S256', state, nonce });
      // Lax, not Strict: it must come back on the IdP's cross-site redirect to /callback.
      res.setHeader('set-cookie', setCookie(LOGIN_COOKIE, loginId, { secure, sameSite: 'Lax', maxAgeSeconds: 600, path: '/callback' }));
      res.redirect(303, url.href);
    })().catch((err: unknown) => fail(req, res, err, null, 'login'));
  });

  app.get('/callback', (req, res) => {
    (async () => {
      const login = parts.sessions.takeLogin(readCookie(req.headers.cookie, LOGIN_COOKIE));
      if (!login) throw new GatewayError('console_login_failed', { reasons: ['console.login-unknown'] });
      let claims: Record<string, unknown>;
      try {
        const tokens = await oidc.authorizationCodeGrant(parts.oidc, new URL(req.originalUrl, parts.publicUrl), {
          pkceCodeVerifier: login.verifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
        claims = { ...(tokens.claims() ?? {}) };
      } catch (err) {
        throw new GatewayError('console_login_failed', { reasons: ['console.login-refused'], cause: err });
      }
      const principal = principalFromClaims(claims, parts.claims);
      const user = userOf(principal, claims, parts.oidc.clientMetadata().client_id);
      // A new id at every login: whatever id the browser brought is ended, never promoted.
      const session = parts.sessions.create(user, readCookie(req.headers.cookie, SESSION_COOKIE));
      await record(req, principalOfUser(user), 'login', 200, null, {});
      res.setHeader('set-cookie', [
        setCookie(SESSION_COOKIE, session.id, { ...cookie, maxAgeSeconds: parts.sessionTtlSeconds }),
        clearCookie(LOGIN_COOKIE, { secure, sameSite: 'Lax', path: '/callback' }),
      ]);
      // A page, not a redirect: after the IdP's cross-site redirect the browser would not send a
      // Strict cookie on a redirect it follows, but does on this same-site navigation.
      res.status(200).type('text/html').send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/"><title>Signed in</title></head><body><p><a href="/">Continue to the console</a></p></body></html>`);
    })().catch((err: unknown) => fail(req, res, err, null, 'login'));
  });

  app.use(express.json({ limit: '2mb' }));

  // Every state change: the session's CSRF token in a header (a form or another site cannot set
  // one), and when the browser names an Origin, this console's.
  const csrfOk = (req: Request, session: Session): boolean => {
    const presentedOrigin = req.headers.origin;
    if (presentedOrigin !== undefined && presentedOrigin !== origin) return false;
    const header = req.headers['x-csrf-token'];
    return csrfMatches(session, typeof header === 'string' ? header : undefined);
  };

  app.post('/logout', (req, res) => {
    (async () => {
      const session = sessionOf(req);
      if (!session) throw new GatewayError('console_session_required');
      if (!csrfOk(req, session)) return fail(req, res, new GatewayError('console_csrf_refused'), principalOfUser(session.user), 'logout');
      parts.sessions.end(session.id);
      await record(req, principalOfUser(session.user), 'logout', 204, null, {});
      res.setHeader('set-cookie', clearCookie(SESSION_COOKIE, cookie));
      res.status(204).end();
    })().catch((err: unknown) => fail(req, res, err, null, 'logout'));
  });

  app.get('/api/session', (req, res) => {
    const session = sessionOf(req);
    if (!session) {
      void fail(req, res, new GatewayError('console_session_required'), null, 'session');
      return;
    }
    res.status(200).type('application/json').send(JSON.stringify({ user: { sub: session.user.sub, name: session.user.name, iss: session.user.iss }, roles: session.user.roles, csrfToken: session.csrf, expiresAt: new Date(session.expiresAt).toISOString() }));
  });

  const compiled = parts.routes.map((r) => ({ route: r, pattern: compile(r.path) }));
  app.use('/api', (req, res, next) => {
    const match = compiled.flatMap(({ route, pattern }) => {
      if (route.method !== req.method) return [];
      const m = pattern.exec(req.path);
      return m ? [{ route, params: { ...(m.groups ?? {}) } }] : [];
    })[0];
    if (!match) return next();
    const { route, params } = match;
    (async () => {
      const session = sessionOf(req);
      if (!session) return fail(req, res, new GatewayError('console_session_required'), null, route.action, params);
      const principal = principalOfUser(session.user);
      if (route.method !== 'GET' && !csrfOk(req, session)) return fail(req, res, new GatewayError('console_csrf_refused'), principal, route.action, params);
      if (!route.roles.some((r) => session.user.roles.includes(r))) {
        return fail(req, res, new GatewayError('console_role_required', { reasons: [`console.needs-${route.roles.join('-or-')}`] }), principal, route.action, params);
      }
      let answer: ApiAnswer;
      try {
        answer = await route.handle({ session, req }, params);
      } catch (err) {
        return fail(req, res, err, principal, route.action, params);
      }
      // Recorded before it is answered: an action whose record cannot be kept is not answered.
      await record(req, principal, route.action, answer.status, null, params);
      if (answer.filename) res.setHeader('content-disposition', `attachment; filename="${answer.filename}"`);
      if (answer.contentType) res.status(answer.status).type(answer.contentType).send(answer.body as string | Buffer);
      else res.status(answer.status).type('application/json').send(JSON.stringify(answer.body));
    })().catch((err: unknown) => fail(req, res, err, null, route.action, params));
  });
  app.use('/api', (req, res) => {
    void fail(req, res, new GatewayError('not_found'), null, 'unknown');
  });

  if (parts.assetsDir && existsSync(path.join(parts.assetsDir, 'index.html'))) {
    const index = readFileSync(path.join(parts.assetsDir, 'index.html'));
    app.use('/assets', express.static(path.join(parts.assetsDir, 'assets'), { index: false, etag: false, lastModified: false, fallthrough: false }));
    // The single-page app, at / only (pages are #/fragments); its script asks /api/session and offers sign-in.
    app.get('/', (_req, res) => {
      res.status(200).type('text/html').send(index);
    });
  } else {
    app.get('/', (_req, res) => {
      res.status(200).type('text/html').send('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Console</title></head><body><main><h1>FHIR privacy gateway console</h1><p>The front end is not built (npm run build). The JSON API is under /api.</p><p><a href="/login">Sign in</a></p></main></body></html>');
    });
  }

  app.use((_req, res) => {
    res.status(404).type('application/json').send(JSON.stringify({ error: 'not_found' }));
  });
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // A malformed JSON body and the like: a client error, in the console's own shape.
    const status = typeof (_err as { status?: unknown }).status === 'number' && (_err as { status: number }).status < 500 ? 400 : 500;
    res.status(status).type('application/json').send(JSON.stringify({ error: status === 400 ? 'console_invalid_request' : 'internal' }));
  });
  return app;
}

/** The query parameters of an API call, as recorded (masked by audit.masking like search values). */
function filtersOf(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') out[k] = v;
  return out;
}

function compile(route: string): RegExp {
  const source = route
    .split('/')
    .map((seg) => (seg.startsWith(':') ? `(?<${seg.slice(1)}>[A-Za-z0-9._~-]+)` : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

function userOf(principal: Principal, claims: Record<string, unknown>, client: string): ConsoleUser {
  const name = [claims['name'], claims['preferred_username'], principal.sub].find((v): v is string => typeof v === 'string' && v !== '') ?? 'unknown';
  return {
    iss: principal.iss,
    sub: principal.sub ?? 'unknown',
    client,
    name,
    roles: CONSOLE_ROLES.filter((r) => principal.roles.includes(r)),
    tokenRoles: [...principal.roles],
  };
}

/** The principal a console user's actions are recorded under. */
export function principalOfUser(user: ConsoleUser): Principal {
  return principalFromClaims({ iss: user.iss, sub: user.sub, client_id: user.client, roles: [...user.tokenRoles] }, DEFAULT_MAPPING);
}

const DEFAULT_MAPPING: ClaimMapping = {
  roles: 'roles',
  purposeOfUse: 'purpose_of_use',
  patient: 'patient',
  encounter: 'encounter',
  fhirUser: 'fhirUser',
  scope: 'scope',
  clientId: 'client_id',
  tenant: 'tenant',
  organization: 'organization',
  breakGlassReason: 'break_glass_reason',
};
