/**
 * A real OpenID Connect provider (node-oidc-provider) for console sign-in tests: one confidential
 * or public client `fhir-console`, PKCE required, and a login that signs in whichever user the test
 * named last (`signInAs`), as a person at the hospital's IdP would. Roles travel in the ID token
 * (`roles`), read through the same claim mapping as access tokens.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface ConsoleUserSpec {
  readonly sub: string;
  readonly name: string;
  readonly roles: readonly string[];
}

export interface ConsoleIdp {
  readonly issuer: string;
  /** The next login at the IdP signs in this user. */
  signInAs(user: ConsoleUserSpec): void;
  /** Registers the console's redirect URI (known once the console listens). */
  close(): Promise<void>;
}

export async function startConsoleIdp(options: { readonly redirectUris: readonly string[] }): Promise<ConsoleIdp> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key = await generateKeyPair('ES256', { extractable: true });
  const users = new Map<string, ConsoleUserSpec>();
  let next: ConsoleUserSpec | null = null;

  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...(await exportJWK(key.privateKey)), kid: 'console', alg: 'ES256', use: 'sig' }] },
    clients: [{ client_id: 'fhir-console', token_endpoint_auth_method: 'none', redirect_uris: [...options.redirectUris], grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' }],
    scopes: ['openid', 'profile', 'roles'],
    claims: { openid: ['sub'], profile: ['name'], roles: ['roles'] },
    // Claims the scopes ask for go into the ID token, where the console reads them.
    conformIdTokenClaims: false,
    async findAccount(_ctx: unknown, sub: string) {
      const user = users.get(sub);
      return user && { accountId: sub, claims: async () => ({ sub, name: user.name, roles: [...user.roles] }) };
    },
    cookies: { keys: ['console-idp-cookie-key-0123456789'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    ttl: { AccessToken: () => 600, IdToken: () => 600, Session: () => 3600, Interaction: () => 600, Grant: () => 3600 },
  });

  const callback = provider.callback();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      finish(req, res).catch(() => {
        res.statusCode = 500;
        res.end();
      });
      return;
    }
    callback(req, res);
  });

  async function finish(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      if (!next) throw new Error('no user to sign in');
      users.set(next.sub, next);
      await provider.interactionFinished(req, res, { login: { accountId: next.sub } }, { mergeWithLastSubmission: false });
      return;
    }
    const promptDetails = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    const grant = new provider.Grant({ accountId: details.session?.accountId as string, clientId: details.params['client_id'] as string });
    if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  return {
    issuer,
    signInAs(user) {
      next = user;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A browser's cookie jar, per host, enough for the sign-in redirects. */
export class CookieJar {
  private readonly jar = new Map<string, Map<string, string>>();

  store(url: string, response: Response): void {
    const host = new URL(url).host;
    const cookies = this.jar.get(host) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
    this.jar.set(host, cookies);
  }

  header(url: string): string {
    return [...(this.jar.get(new URL(url).host) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).host)?.get(name);
  }

  set(url: string, name: string, value: string): void {
    const host = new URL(url).host;
    const cookies = this.jar.get(host) ?? new Map<string, string>();
    cookies.set(name, value);
    this.jar.set(host, cookies);
  }
}

export interface SignedIn {
  readonly jar: CookieJar;
  readonly csrf: string;
  /** Every Set-Cookie the console sent during sign-in, as sent. */
  readonly setCookies: readonly string[];
}

/** Signs in through the console's /login, the IdP's pages and back, following redirects as a browser does. */
export async function signIn(consoleUrl: string, idp: ConsoleIdp, user: ConsoleUserSpec, jar = new CookieJar()): Promise<SignedIn> {
  idp.signInAs(user);
  const setCookies: string[] = [];
  let url = `${consoleUrl}/login`;
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(url) } });
    jar.store(url, res);
    if (url.startsWith(consoleUrl)) setCookies.push(...res.headers.getSetCookie());
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url).href;
      continue;
    }
    if (!url.startsWith(`${consoleUrl}/callback`) || res.status !== 200) throw new Error(`sign-in stopped at ${url} with ${res.status}: ${await res.text()}`);
    const session = await fetch(`${consoleUrl}/api/session`, { headers: { cookie: jar.header(consoleUrl) } });
    if (session.status !== 200) throw new Error(`no session after sign-in: ${session.status}`);
    const body = (await session.json()) as { csrfToken: string };
    return { jar, csrf: body.csrfToken, setCookies };
  }
  throw new Error('too many redirects');
}
