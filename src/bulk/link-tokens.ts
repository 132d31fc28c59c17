/**
 * Bulk Data links. The gateway never hands out the upstream's status or file URLs: it hands out
 * its own (`$bulk-status?job=`, `$bulk-file?file=`), whose token is a short-lived HS256 JWS (jose)
 * naming the upstream URL and binding it to the client and subject that started the export. A
 * client cannot point the gateway at another URL (no SSRF), nor fetch another client's export.
 *
 * Replicas must share the key (bulk.linkKey from the environment) for links to work across them.
 */
import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { GatewayError } from '../errors.js';

export type BulkLinkKind = 'status' | 'file';

export interface LinkOwner {
  readonly client_id: string | null;
  readonly sub: string | null;
}

export interface BulkLinkTokens {
  sign(kind: BulkLinkKind, upstreamUrl: string, owner: LinkOwner, extra?: Record<string, string>): Promise<string>;
  /** The upstream URL (and extras) a token names; a bad, expired or foreign token is a plain 404. */
  verify(kind: BulkLinkKind, token: string, owner: LinkOwner): Promise<{ url: string; extra: Record<string, string> }>;
}

export function createBulkLinkTokens(key: Uint8Array | null, ttlSeconds: number): BulkLinkTokens {
  const secret = key ?? new Uint8Array(randomBytes(32));
  return {
    async sign(kind, upstreamUrl, owner, extra = {}) {
      return new SignJWT({ k: kind, u: upstreamUrl, c: owner.client_id, s: owner.sub, x: extra })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(secret);
    },
    async verify(kind, token, owner) {
      try {
        const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'] });
        if (payload['k'] !== kind || typeof payload['u'] !== 'string') throw new Error('wrong kind');
        if (payload['c'] !== owner.client_id || payload['s'] !== owner.sub) throw new Error('wrong owner');
        return { url: payload['u'], extra: (payload['x'] ?? {}) as Record<string, string> };
      } catch (err) {
        throw new GatewayError('not_found', { auditReasons: ['bulk.link-invalid'], cause: err });
      }
    },
  };
}
