/**
 * The demo's OpenID Connect provider for the console: node-oidc-provider (a development
 * dependency, like the rest of devkit) with authorization code + PKCE, and a sign-in page that
 * offers the demo's three console users, so the demo console signs in for real.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { readBoundedBody } from '../http/body.js';

export const DEMO_CONSOLE_USERS = [
  { sub: 'privacy-officer-1', name: 'Priya Officer', roles: ['privacy-officer'] },
  { sub: 'policy-author-1', name: 'Paul Author', roles: ['policy-author'] },
  { sub: 'auditor-1', name: 'Ada Auditor', roles: ['auditor'] },
] as const;

/** The part of oidc-provider's API used here (it ships no types; test/support has fuller ones). */
interface Provider {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<{ prompt: { name: string; details: { missingOIDCScope?: string[] } }; params: Record<string, unknown>; session?: { accountId?: string } }>;
  interactionFinished(req: http.IncomingMessage, res: http.ServerResponse, result: Record<string, unknown>, options: { mergeWithLastSubmission: boolean }): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
}

export interface DemoConsoleIdp {
  readonly issuer: string;
  close(): Promise<void>;
}

export async function startDemoConsoleIdp(redirectUri: string): Promise<DemoConsoleIdp> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key = await generateKeyPair('ES256', { extractable: true });
  const moduleName = 'oidc-provider';
  const { default: ProviderClass } = (await import(moduleName)) as { default: new (issuer: string, config: Record<string, unknown>) => Provider };
  const provider = new ProviderClass(issuer, {
    jwks: { keys: [{ ...(await exportJWK(key.privateKey)), kid: 'demo-console', alg: 'ES256', use: 'sig' }] },
    clients: [{ client_id: 'fhir-console', token_endpoint_auth_method: 'none', redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' }],
    scopes: ['openid', 'profile', 'roles'],
    claims: { openid: ['sub'], profile: ['name'], roles: ['roles'] },
    conformIdTokenClaims: false,
    async findAccount(_ctx: unknown, sub: string) {
      const user = DEMO_CONSOLE_USERS.find((u) => u.sub === sub);
      return user && { accountId: sub, claims: async () => ({ sub, name: user.name, roles: [...user.roles] }) };
    },
    cookies: { keys: [Buffer.from(await crypto.getRandomValues(new Uint8Array(32))).toString('hex')] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
  });
  const callback = provider.callback();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      interaction(provider, req, res).catch(() => {
        res.statusCode = 500;
        res.end();
      });
      return;
    }
    callback(req, res);
  });
  return {
    issuer,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function interaction(provider: Provider, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    if (req.method === 'POST') {
      const body = (await readBoundedBody(req, 65536)).toString('utf8');
      const sub = new URLSearchParams(body).get('user');
      if (!DEMO_CONSOLE_USERS.some((u) => u.sub === sub)) throw new Error('unknown demo user');
      await provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
      return;
    }
    const buttons = DEMO_CONSOLE_USERS.map((u) => `<p><button name="user" value="${u.sub}">${u.name} (${u.roles.join(', ')})</button></p>`).join('');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; form-action 'self' http://127.0.0.1:*; frame-ancestors 'none'" });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo sign-in</title></head><body><main><h1>Demo identity provider</h1><p>Sign in to the console as:</p><form method="post" action="${req.url}">${buttons}</form></main></body></html>`);
    return;
  }
  const grant = new provider.Grant({ accountId: details.session?.accountId ?? '', clientId: String(details.params['client_id']) });
  if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}
