/**
 * The `console` section: the web application for privacy officers and policy authors, on a
 * listener of its own (so a NetworkPolicy can keep it internal), off unless this section is given.
 * Users sign in through the hospital's OpenID Connect provider (authorization code with PKCE);
 * their console roles come from the ID token through the same claim mapping as access tokens.
 */
import { z } from 'zod';
import { claimMappingSchema } from './auth-schema.js';
import { httpUrl } from './url.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** Whether a URL's host is the machine itself: there a session cookie may go without `Secure`. */
export function isLoopbackUrl(url: string): boolean {
  return LOOPBACK.test(new URL(url).hostname);
}

export const consoleSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8081),
    /** The URL users open (behind an ingress); default http://<host>:<port>. Outside loopback it must be https. */
    publicUrl: httpUrl.optional(),
    oidc: z
      .strictObject({
        /** The IdP's issuer; its discovery document is read at start-up. */
        issuer: httpUrl,
        clientId: z.string().min(1),
        /** A confidential client's secret, by environment variable name; absent for a public client (PKCE alone). */
        clientSecretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
        scope: z.string().min(1).default('openid'),
        /** How roles (and the rest) are read from the ID token; default: the mapping of the `auth` issuer with the same `issuer`, else the default mapping. */
        claims: claimMappingSchema.optional(),
      }),
    /** How long a session lasts from login; it is not extended by use. */
    sessionTtlSeconds: z.number().int().min(60).max(86400).default(8 * 3600),
  })
  .superRefine((c, ctx) => {
    const url = c.publicUrl ?? `http://${c.host}:${c.port}`;
    if (!isLoopbackUrl(url) && new URL(url).protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', path: ['publicUrl'], message: 'outside loopback the console must be reached over https (its session cookie is Secure)' });
    }
  });

export type ConsoleConfig = z.output<typeof consoleSchema>;
