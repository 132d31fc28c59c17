/**
 * The part of node-oidc-provider's API the demo authorization server (src/devkit) and the test
 * authorization server (test/support/smart-provider.ts) use: the package ships no type declarations.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface KoaContext {
    readonly path: string;
    readonly method: string;
    body: unknown;
    readonly oidc?: {
      readonly entities: {
        readonly AuthorizationCode?: LoginFacts;
        readonly RefreshToken?: LoginFacts;
      };
    };
  }

  /** What oidc-provider keeps about the login behind a code or refresh token. */
  interface LoginFacts {
    readonly acr?: string;
    readonly amr?: string[];
    readonly authTime?: number;
    readonly scope?: string;
  }

  interface Grant {
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  interface InteractionDetails {
    readonly uid: string;
    readonly prompt: { readonly name: string; readonly reasons?: string[]; readonly details: Record<string, unknown> };
    readonly params: Record<string, unknown>;
    readonly session?: { readonly accountId?: string };
    readonly grantId?: string;
  }

  interface StoredAccessToken {
    readonly extra?: Record<string, unknown>;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    readonly Grant: {
      new (init: { accountId: string; clientId: string }): Grant;
      find(id: string): Promise<Grant | undefined>;
    };
    readonly AccessToken: { find(value: string): Promise<StoredAccessToken | undefined> };
    readonly Client: { prototype: { redirectUriAllowed(uri: string): boolean; readonly clientId: string } };
  }
}
