/**
 * The demo's authorization server: a real OpenID Provider (node-oidc-provider) set up as a SMART
 * authorization server in front of the gateway, that real SMART apps can use.
 *
 * - Standalone and EHR launch: authorization code flow with PKCE (S256), `aud` = the FHIR base;
 *   the `launch/patient` context from a patient picker (staff logins), the patient's own record
 *   (patient logins), or the EHR launch (`/ehr-launch` plays the EHR: it mints a `launch` id and
 *   sends the browser to the app's launch URL with `iss` and `launch`).
 * - A login page with demo users and a second factor: the login's `acr`, `amr` and `auth_time` go
 *   into the access token (RFC 9068), so the gateway's assurance rules and step-up challenges
 *   (RFC 9470: `acr_values`, `max_age`) can be tried with a browser.
 * - Refresh tokens for `online_access`, and for `offline_access` when the app asks with
 *   `prompt=consent` (oidc-provider drops `offline_access` otherwise, as OpenID Connect says).
 * - Backend services: client credentials with `private_key_jwt` (SMART Backend Services).
 * - Discovery: OpenID Connect and `.well-known/smart-configuration`.
 * - `POST /demo/token` mints a token for any demo role (`npm run demo -- token`).
 *
 * For the demo on loopback only: the public client `demo-app` accepts any loopback redirect URI,
 * consent is implied, users have no passwords, and `/demo/token` signs what it is asked to.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { GatewayError } from '../errors.js';
import { readBoundedBody } from '../http/body.js';

export interface DemoUser {
  readonly id: string;
  readonly display: string;
  readonly roles: readonly string[];
  readonly purposeOfUse: readonly string[];
  /** `Patient/…` or `Practitioner/…`. */
  readonly fhirUser: string;
  /** The patient a patient user is. */
  readonly patient?: string;
}

export interface DemoPatient {
  readonly id: string;
  readonly display: string;
}

export interface AuthorizationServerOptions {
  /** The gateway's FHIR base: the audience of every token. */
  readonly fhirBase: string;
  readonly users: readonly DemoUser[];
  readonly patients: readonly DemoPatient[];
  readonly host?: string;
  readonly port?: number;
  readonly accessTokenFormat?: 'jwt' | 'opaque';
  readonly accessTokenSeconds?: number;
}

/** The `acr` values the demo server puts in tokens; the gateway's demo config maps them to levels. */
export const DEMO_ACR = { password: 'urn:fhirgw:demo:pwd', mfa: 'urn:fhirgw:demo:mfa' } as const;

export interface MintRequest {
  readonly sub: string;
  readonly scope: string;
  readonly roles?: readonly string[];
  readonly purposeOfUse?: readonly string[];
  readonly breakGlassReason?: string;
  readonly patient?: string;
  readonly fhirUser?: string;
  /** `DEMO_ACR.mfa` (with amr pwd+otp) or `DEMO_ACR.password` (amr pwd), or any other value as given. */
  readonly acr?: string;
  /** How long ago the user logged in (default: now). */
  readonly authAgeSeconds?: number;
  readonly expiresInSeconds?: number;
}

export interface DemoAuthorizationServer {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** The backend-services client: its id and the private key it signs client assertions with. */
  readonly backend: { readonly clientId: string; readonly privateJwk: JWK };
  /** Secret of the `fhir-gateway` client, for RFC 7662 introspection of opaque tokens. */
  readonly introspectionSecret: string;
  mint(request: MintRequest): Promise<string>;
  close(): Promise<void>;
}

/** SMART scopes the demo grants (oidc-provider grants only scopes the resource server lists). */
const RESOURCE_SCOPES = [
  'launch', 'launch/patient',
  ...['patient', 'user', 'system'].flatMap((c) => [`${c}/*.rs`, `${c}/*.cruds`, `${c}/*.read`, `${c}/*.write`, `${c}/*.*`]),
  ...['Patient', 'Observation', 'Condition', 'Encounter', 'Coverage', 'MedicationRequest', 'AllergyIntolerance', 'Immunization', 'DocumentReference'].flatMap((t) => [
    `patient/${t}.rs`, `patient/${t}.read`, `user/${t}.rs`, `user/${t}.cruds`, `user/${t}.read`, `system/${t}.rs`,
  ]),
].join(' ');

const LOOPBACK_REDIRECT = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?\//;

export async function startAuthorizationServer(options: AuthorizationServerOptions): Promise<DemoAuthorizationServer> {
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const issuer = `http://${host}:${(server.address() as AddressInfo).port}`;
  const tokenEndpoint = `${issuer}/token`;
  const introspectionSecret = randomUUID() + randomUUID();

  const signing = await generateKeyPair('ES256', { extractable: true });
  const signingJwk = { ...(await exportJWK(signing.privateKey)), kid: 'demo-es256', alg: 'ES256', use: 'sig' };
  const backendKey = await generateKeyPair('ES256', { extractable: true });
  const backendPrivate: JWK = { ...(await exportJWK(backendKey.privateKey)), kid: 'backend-1', alg: 'ES256' };
  const { kty, crv, x, y } = await exportJWK(backendKey.publicKey);
  const backendPublic: JWK = { kty, crv, x, y, kid: 'backend-1', alg: 'ES256', use: 'sig' };

  const users = new Map(options.users.map((u) => [u.id, u]));
  /** Launch context by grant: the patient picked (or launched with) for that authorization. */
  const contexts = new Map<string, { patient: string }>();
  /** EHR launches waiting for the app to authorize: launch id -> patient. */
  const launches = new Map<string, string>();
  const accessTokenSeconds = options.accessTokenSeconds ?? 3600;

  const provider = new Provider(issuer, {
    jwks: { keys: [signingJwk] },
    // One ES256 key signs everything (oidc-provider's default for ID tokens is RS256).
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code'], response_types: ['code'] },
    clients: [
      { client_id: 'demo-app', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/callback'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
      {
        client_id: 'demo-backend', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256',
        // The backend publishes its key set at a URL, as SMART Backend Services registrations usually do.
        jwks_uri: `${issuer}/demo/backend-jwks`, grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
      },
      { client_id: 'fhir-gateway', client_secret: introspectionSecret, grant_types: [], redirect_uris: [], response_types: [] },
    ],
    scopes: ['openid', 'fhirUser', 'profile', 'offline_access', 'online_access'],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name'] },
    extraParams: ['launch'],
    async findAccount(_ctx: unknown, sub: string) {
      const user = users.get(sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ sub, fhirUser: `${options.fhirBase}/${user.fhirUser}`, name: user.display }) };
    },
    cookies: { keys: [randomUUID()] },
    pkce: { required: () => true },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // SMART apps in the browser call the token endpoint cross-origin.
    clientBasedCORS: () => true,
    // oidc-provider refuses to fetch loopback addresses (SSRF protection); the backend's key set is
    // on this server's own loopback address, and only that URL is fetched without the protection.
    fetch: (url: URL | string, init: RequestInit & { dispatcher?: unknown }) => {
      if (String(url) !== `${issuer}/demo/backend-jwks`) return fetch(url, init);
      const { dispatcher: _ssrfGuard, ...rest } = init;
      return fetch(url, rest);
    },
    async issueRefreshToken(_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }, source: { scopes: Set<string> }) {
      return client.grantTypeAllowed('refresh_token') && (source.scopes.has('offline_access') || source.scopes.has('online_access'));
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // SMART apps name the FHIR server with `aud`, not `resource`: every grant is for the gateway.
        defaultResource: async () => options.fhirBase,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: RESOURCE_SCOPES,
          audience: options.fhirBase,
          accessTokenTTL: accessTokenSeconds,
          accessTokenFormat: options.accessTokenFormat ?? 'jwt',
          ...((options.accessTokenFormat ?? 'jwt') === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        }),
      },
    },
    // RFC 9068 and SMART: who the user is, why, the patient in context and the login's assurance.
    async extraTokenClaims(ctx: { oidc?: { entities: { AuthorizationCode?: LoginFactsOf; RefreshToken?: LoginFactsOf } } }, token: { kind: string; accountId?: string; grantId?: string }) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const user = users.get(token.accountId);
      const login = ctx.oidc?.entities.AuthorizationCode ?? ctx.oidc?.entities.RefreshToken;
      const context = token.grantId ? contexts.get(token.grantId) : undefined;
      return {
        ...(user ? { roles: [...user.roles], purpose_of_use: [...user.purposeOfUse], fhirUser: user.fhirUser } : {}),
        ...(context ? { patient: context.patient } : {}),
        ...(login?.acr ? { acr: login.acr } : {}),
        ...(login?.amr ? { amr: login.amr } : {}),
        ...(login?.authTime ? { auth_time: login.authTime } : {}),
      };
    },
    ttl: { AccessToken: () => accessTokenSeconds, ClientCredentials: () => accessTokenSeconds, Session: () => 8 * 3600, Interaction: () => 900, Grant: () => 8 * 3600, RefreshToken: () => 8 * 3600 },
  });
  // Any loopback redirect for the demo's public client: sample SMART apps run on localhost ports.
  const redirectUriAllowed = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function (this: { clientId: string }, uri: string): boolean {
    return (this.clientId === 'demo-app' && LOOPBACK_REDIRECT.test(uri)) || redirectUriAllowed.call(this, uri);
  };

  // SMART: the token response names the patient in context next to the access token.
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.path !== '/token' || !body || typeof body['access_token'] !== 'string') return;
    // The response lists the resource's scopes; SMART apps also look for the access mode they got.
    const login = ctx.oidc?.entities.AuthorizationCode ?? ctx.oidc?.entities.RefreshToken;
    const granted = new Set(String(body['scope'] ?? '').split(' ').filter((x) => x));
    for (const mode of ['online_access', 'offline_access']) if (typeof body['refresh_token'] === 'string' && (login?.scope ?? '').split(' ').includes(mode)) granted.add(mode);
    body['scope'] = [...granted].join(' ');
    const token = body['access_token'];
    const claims = token.includes('.') ? decodeJwt(token) : ((await provider.AccessToken.find(token))?.extra ?? {});
    if (typeof claims['patient'] === 'string') body['patient'] = claims['patient'];
  });

  const smartConfiguration = {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: tokenEndpoint,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none', 'private_key_jwt', 'client_secret_basic'],
    token_endpoint_auth_signing_alg_values_supported: ['ES256'],
    scopes_supported: ['openid', 'fhirUser', 'profile', 'online_access', 'offline_access', ...RESOURCE_SCOPES.split(' ')],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    acr_values_supported: [DEMO_ACR.password, DEMO_ACR.mfa],
    capabilities: [
      'launch-ehr', 'launch-standalone', 'client-public', 'client-confidential-asymmetric', 'context-ehr-patient', 'context-standalone-patient',
      'permission-online', 'permission-offline', 'permission-patient', 'permission-user', 'permission-v1', 'permission-v2', 'sso-openid-connect',
    ],
  };

  const signingKey = await importJWK(signingJwk, 'ES256');
  const mint = async (m: MintRequest): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const mfa = m.acr === undefined || m.acr === DEMO_ACR.mfa;
    return new SignJWT({
      scope: m.scope,
      client_id: 'demo-cli',
      ...(m.roles ? { roles: [...m.roles] } : {}),
      ...(m.purposeOfUse && m.purposeOfUse.length > 0 ? { purpose_of_use: [...m.purposeOfUse] } : {}),
      ...(m.breakGlassReason ? { break_glass_reason: m.breakGlassReason } : {}),
      ...(m.patient ? { patient: m.patient } : {}),
      ...(m.fhirUser ? { fhirUser: m.fhirUser } : {}),
      acr: m.acr ?? DEMO_ACR.mfa,
      ...(mfa ? { amr: ['pwd', 'otp'] } : m.acr === DEMO_ACR.password ? { amr: ['pwd'] } : {}),
      auth_time: now - (m.authAgeSeconds ?? 0),
    })
      .setProtectedHeader({ alg: 'ES256', kid: signingJwk.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setSubject(m.sub)
      .setAudience(options.fhirBase)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + (m.expiresInSeconds ?? 8 * 3600))
      .sign(signingKey);
  };

  const callback = provider.callback();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    const fail = (err: unknown): void => {
      if (!res.headersSent) res.writeHead(err instanceof DemoInputError ? 400 : 500, { 'content-type': 'text/plain' });
      res.end(err instanceof DemoInputError ? err.message : 'error');
    };
    if (url.pathname === '/.well-known/smart-configuration') {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify(smartConfiguration));
    } else if (url.pathname === '/demo/backend-jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [backendPublic] }));
    } else if (url.pathname.startsWith('/interaction/')) {
      interaction(provider, req, res, { users: options.users, patients: options.patients, contexts, launches }).catch(fail);
    } else if (url.pathname === '/ehr-launch' && req.method === 'GET') {
      const launchUri = url.searchParams.get('launch_uri') ?? '';
      const patient = url.searchParams.get('patient') ?? '';
      if (!LOOPBACK_REDIRECT.test(launchUri) || !options.patients.some((p) => p.id === patient)) {
        fail(new DemoInputError('launch_uri must be a loopback URL and patient a demo patient'));
        return;
      }
      const launch = randomUUID();
      launches.set(launch, patient);
      const target = new URL(launchUri);
      target.searchParams.set('iss', options.fhirBase);
      target.searchParams.set('launch', launch);
      res.writeHead(302, { location: target.toString() }).end();
    } else if (url.pathname === '/demo/token' && req.method === 'POST') {
      readJson(req)
        .then(async (body) => {
          const token = await mint(mintRequestOf(body));
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
          res.end(JSON.stringify({ access_token: token, token_type: 'Bearer' }));
        })
        .catch(fail);
    } else callback(req, res);
  });

  return {
    issuer,
    tokenEndpoint,
    backend: { clientId: 'demo-backend', privateJwk: backendPrivate },
    introspectionSecret,
    mint,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

interface LoginFactsOf {
  readonly acr?: string;
  readonly amr?: string[];
  readonly authTime?: number;
}

class DemoInputError extends Error {}

interface InteractionState {
  readonly users: readonly DemoUser[];
  readonly patients: readonly DemoPatient[];
  readonly contexts: Map<string, { patient: string }>;
  readonly launches: Map<string, string>;
}

/** The login page (user, second factor) and the consent step (patient picker when the app asks for launch/patient). */
async function interaction(provider: Provider, req: http.IncomingMessage, res: http.ServerResponse, state: InteractionState): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : null;
  const scope = String(details.params['scope'] ?? '');
  if (details.prompt.name === 'login') {
    if (!form) return page(res, loginPage(details.uid, state.users, String(details.params['acr_values'] ?? '').includes(DEMO_ACR.mfa)));
    const user = state.users.find((u) => u.id === form.get('user'));
    if (!user) throw new DemoInputError('unknown user');
    const mfa = form.get('otp') === 'on';
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.id, acr: mfa ? DEMO_ACR.mfa : DEMO_ACR.password, amr: mfa ? ['pwd', 'otp'] : ['pwd'], remember: false } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  const accountId = details.session?.accountId ?? '';
  const user = state.users.find((u) => u.id === accountId);
  const launch = typeof details.params['launch'] === 'string' ? state.launches.get(details.params['launch']) : undefined;
  const wantsPatient = /(^|\s)launch\/patient(\s|$)/.test(scope);
  let patient = launch ?? user?.patient;
  if (wantsPatient && patient === undefined) {
    if (!form) return page(res, pickerPage(details.uid, state.patients));
    patient = state.patients.find((p) => p.id === form.get('patient'))?.id;
    if (patient === undefined) throw new DemoInputError('pick a patient');
  }
  const promptDetails = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: String(details.params['client_id']) });
  if (!grant) throw new DemoInputError('the authorization expired; start again');
  if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
  for (const [indicator, scopes] of Object.entries(promptDetails.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  if (patient !== undefined && (wantsPatient || launch !== undefined)) state.contexts.set(grantId, { patient });
  await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
}

function loginPage(uid: string, users: readonly DemoUser[], mfaAsked: boolean): string {
  const options = users.map((u) => `<option value="${esc(u.id)}">${esc(u.display)} (${esc(u.roles.join(', '))})</option>`).join('');
  return `<h1>Demo sign-in</h1><p>Synthetic users, no passwords.${mfaAsked ? ' <strong>This app asks for a second factor.</strong>' : ''}</p>
<form method="post" action="/interaction/${esc(uid)}"><label>User <select name="user" id="user">${options}</select></label>
<p><label><input type="checkbox" name="otp" id="otp"${mfaAsked ? ' checked' : ''}> Second factor (one-time code)</label></p>
<button type="submit" id="sign-in">Sign in</button></form>`;
}

function pickerPage(uid: string, patients: readonly DemoPatient[]): string {
  const options = patients.map((p, i) => `<p><label><input type="radio" name="patient" value="${esc(p.id)}"${i === 0 ? ' checked' : ''}> ${esc(p.display)}</label></p>`).join('');
  return `<h1>Choose a patient</h1><form method="post" action="/interaction/${esc(uid)}">${options}<button type="submit" id="choose">Continue</button></form>`;
}

function page(res: http.ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'" });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>fhir-privacy-gateway demo</title></head><body>${body}</body></html>`);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  try {
    return (await readBoundedBody(req, 65536)).toString('utf8');
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'payload_too_large') throw new DemoInputError('body too large');
    throw err;
  }
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await readBody(req));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (err) {
    if (err instanceof DemoInputError) throw err;
  }
  throw new DemoInputError('send a JSON object');
}

function mintRequestOf(body: Record<string, unknown>): MintRequest {
  const str = (k: string): string | undefined => (typeof body[k] === 'string' && body[k] !== '' ? (body[k] as string) : undefined);
  const list = (k: string): string[] | undefined => (Array.isArray(body[k]) ? (body[k] as unknown[]).filter((v): v is string => typeof v === 'string') : undefined);
  const sub = str('sub');
  const scope = str('scope');
  if (!sub || !scope) throw new DemoInputError('sub and scope are required');
  const num = (k: string): number | undefined => (typeof body[k] === 'number' && Number.isFinite(body[k]) ? (body[k] as number) : undefined);
  return {
    sub,
    scope,
    ...optionalField('roles', list('roles')),
    ...optionalField('purposeOfUse', list('purposeOfUse')),
    ...optionalField('breakGlassReason', str('breakGlassReason')),
    ...optionalField('patient', str('patient')),
    ...optionalField('fhirUser', str('fhirUser')),
    ...optionalField('acr', str('acr')),
    ...optionalField('authAgeSeconds', num('authAgeSeconds')),
    ...optionalField('expiresInSeconds', num('expiresInSeconds')),
  };
}

function optionalField<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
