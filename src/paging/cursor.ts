/**
 * The gateway's paging cursors: where a filtered search continues upstream, sealed so the client
 * learns nothing from them. A cursor holds the upstream page to fetch next and how many of its
 * matches were already consumed, a position that counts withheld entries too; in the clear it
 * would say how many resources policy withheld. So it is encrypted and authenticated (AES-256-GCM),
 * bound to the principal (issuer, subject, client), and expires.
 *
 * Its length is a function of the search alone: every field that depends on the upstream (the
 * page's address, the position) is written at a fixed width, so two upstreams that differ only in
 * withheld data give cursors of the same length. An upstream paging link longer than the room the
 * search leaves for it is refused (a server would need links hundreds of characters longer than
 * its own search to get there).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { FhirRequest } from '../fhir/request.js';

export interface CursorState {
  /** The search as the client asked for it (its resource decisions and subsetting are those of page 1). */
  readonly request: FhirRequest;
  /** The upstream page to fetch, relative to the upstream base (e.g. `/Observation?...&_offset=40`). */
  readonly upstream: string;
  /** Matches of that page already consumed by earlier pages. */
  readonly skip: number;
  /** Released entries per page. */
  readonly count: number;
  /** Index of the page this cursor opens (the first page is 0). */
  readonly page: number;
}

export interface Principalish {
  readonly iss: string;
  readonly sub: string | null;
  readonly clientId: string | null;
}

export interface CursorCodec {
  seal(state: CursorState, principal: Principalish, now: Date): string;
  /** Throws `invalid_request` (`paging.cursor-invalid` / `paging.cursor-expired`). */
  open(token: string, principal: Principalish, now: Date): CursorState;
}

/** Room an upstream paging link gets beyond the length of the search it continues. */
const LINK_ALLOWANCE = 768;
const POSITION_WIDTH = 10;
const TOKEN = /^[A-Za-z0-9_-]{40,16384}$/;

export function createCursorCodec(keyBytes: Uint8Array, ttlSeconds: number): CursorCodec {
  const encryptionKey = Buffer.from(hkdfSync('sha256', keyBytes, Buffer.alloc(0), 'fhirgw paging cursor v1 encryption', 32));
  const bindingKey = Buffer.from(hkdfSync('sha256', keyBytes, Buffer.alloc(0), 'fhirgw paging cursor v1 binding', 32));
  const binding = (p: Principalish): string => createHmac('sha256', bindingKey).update(JSON.stringify([p.iss, p.sub, p.clientId])).digest('base64url');

  return {
    seal(state, principal, now) {
      const room = JSON.stringify(state.request).length + LINK_ALLOWANCE;
      const link = Buffer.from(state.upstream, 'utf8').toString('base64url');
      if (link.length > room) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.paging-link-too-long'] });
      const plain = JSON.stringify({
        v: 1,
        b: binding(principal),
        e: fixed(Math.floor(now.getTime() / 1000) + ttlSeconds),
        r: state.request,
        u: link.padEnd(room, '.'),
        s: fixed(state.skip),
        c: fixed(state.count),
        p: fixed(state.page),
      });
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
      const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
    },
    open(token, principal, now) {
      const invalid = (reason: string): never => {
        throw new GatewayError('invalid_request', { reasons: [reason] });
      };
      if (!TOKEN.test(token)) invalid('paging.cursor-invalid');
      const raw = Buffer.from(token, 'base64url');
      if (raw.length < 12 + 16 + 2) invalid('paging.cursor-invalid');
      let plain: string;
      try {
        const decipher = createDecipheriv('aes-256-gcm', encryptionKey, raw.subarray(0, 12));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        plain = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
      } catch {
        return invalid('paging.cursor-invalid');
      }
      const state = JSON.parse(plain) as { v: number; b: string; e: string; r: FhirRequest; u: string; s: string; c: string; p: string };
      // Sealed by this gateway, so well-formed; only whom it belongs to and its age remain to check.
      if (state.v !== 1 || state.b !== binding(principal)) invalid('paging.cursor-invalid');
      if (Number(state.e) < Math.floor(now.getTime() / 1000)) invalid('paging.cursor-expired');
      return {
        request: state.r,
        upstream: Buffer.from(state.u.replace(/\.+$/, ''), 'base64url').toString('utf8'),
        skip: Number(state.s),
        count: Number(state.c),
        page: Number(state.p),
      };
    },
  };
}

function fixed(n: number): string {
  return String(n).padStart(POSITION_WIDTH, '0');
}
