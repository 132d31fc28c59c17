/**
 * A real OAuth 2.0 / OpenID Connect authorization server for tests: node-oidc-provider, in
 * process on a loopback port, configured as a SMART authorization server in front of the gateway:
 *
 * - resource indicators: every token is for the gateway's FHIR base (`aud`), whether the client
 *   asks with `resource` or, as SMART clients do, with `aud`; tokens are JWTs (RFC 9068, ES256,
 *   typ at+jwt) or opaque (then verified by introspection), as chosen at start;
 * - SMART scopes (v1, v2, launch/patient, fhirUser) as the resource server's scopes;
 * - the `patient` launch context: in the access token (a claim, or an introspection field) and in
 *   the token response, where SMART clients read it;
 * - logins and consents are granted automatically for one test user (the interaction endpoint
 *   finishes them as a user would), so a client library can run the whole authorization code flow
 *   with PKCE over real HTTP;
 * - client credentials for backend services, DPoP (oidc-provider's own implementation), and RFC
 *   7662 introspection for the gateway's client.
 *
 * oidc-provider warns that it prefers Node 22; it runs on Node 20 for these tests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface SmartProviderOptions {
  /** The gateway's FHIR base: the audience of every token. */
  readonly fhirBase: string;
  readonly accessTokenFormat: 'jwt' | 'opaque';
  /** The patient the test user has in context (launch/patient). */
  readonly patientId: string;
  /** Redirect URI of the SMART app (public client `smart-app`). */
  readonly redirectUri?: string;
}

export interface SmartProvider {
  readonly issuer: string;
  /** Confidential clients: `backend` (client_credentials) and `fhir-gateway` (introspection). */
  readonly secrets: { readonly backend: string; readonly gateway: string };
  close(): Promise<void>;
}

export const SMART_RESOURCE_SCOPES = 'launch launch/patient patient/*.rs patient/*.read patient/Observation.rs patient/Patient.r user/*.rs system/*.rs system/*.read';

export async function startSmartProvider(options: SmartProviderOptions): Promise<SmartProvider> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const secrets = { backend: 'backend-secret-0123456789abcdef0123456789', gateway: 'gateway-secret-0123456789abcdef0123456789' };

  const es256 = await generateKeyPair('ES256', { extractable: true });
  const rs256 = await generateKeyPair('RS256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(rs256.privateKey)), kid: 'rs', alg: 'RS256', use: 'sig' }, { ...(await exportJWK(es256.privateKey)), kid: 'es', alg: 'ES256', use: 'sig' }] };

  const provider = new Provider(issuer, {
    jwks,
    clients: [
      {
        client_id: 'smart-app',
        token_endpoint_auth_method: 'none',
        redirect_uris: [options.redirectUri ?? 'http://127.0.0.1/callback'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
      { client_id: 'backend', client_secret: secrets.backend, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
      { client_id: 'fhir-gateway', client_secret: secrets.gateway, grant_types: [], redirect_uris: [], response_types: [] },
    ],
    scopes: ['openid', 'fhirUser', 'offline_access'],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    async findAccount(_ctx: unknown, sub: string) {
      return { accountId: sub, claims: async () => ({ sub, fhirUser: `${options.fhirBase}/Patient/${options.patientId}` }) };
    },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // SMART clients name the FHIR server with `aud`, not `resource`: every grant is for the gateway.
        defaultResource: async () => options.fhirBase,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: SMART_RESOURCE_SCOPES,
          audience: options.fhirBase,
          accessTokenTTL: 600,
          accessTokenFormat: options.accessTokenFormat,
          ...(options.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        }),
      },
    },
    // The launch context travels in the token (a claim of the JWT, a field of the introspection answer).
    async extraTokenClaims(_ctx: unknown, token: { kind: string; accountId?: string; scope?: string }) {
      if (token.kind !== 'AccessToken' || !token.accountId || !/\blaunch\/patient\b/.test(token.scope ?? '')) return undefined;
      return { patient: options.patientId, fhirUser: `${options.fhirBase}/Patient/${options.patientId}` };
    },
    ttl: { ClientCredentials: () => 600, AccessToken: () => 600, Session: () => 3600, Interaction: () => 600, Grant: () => 3600 },
  } as ConstructorParameters<typeof Provider>[1]);

  // SMART: the token response names the patient in context, next to the access token.
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.path === '/token' && body && typeof body['access_token'] === 'string' && /\blaunch\/patient\b/.test(String(body['scope'] ?? ''))) {
      body['patient'] = options.patientId;
    }
  });

  const callback = provider.callback();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      finishInteraction(provider, req, res).catch(() => {
        res.statusCode = 500;
        res.end();
      });
      return;
    }
    callback(req, res);
  });

  return {
    issuer,
    secrets,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** The user signs in and consents to what the client asked for, as a person clicking through would. */
async function finishInteraction(provider: Provider, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: 'test-patient-user' } }, { mergeWithLastSubmission: false });
    return;
  }
  const promptDetails = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session?.accountId as string, clientId: details.params['client_id'] as string });
  if (!grant) throw new Error('grant vanished');
  if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
  for (const [indicator, scopes] of Object.entries(promptDetails.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
}
