/**
 * `POST /admin/revocations`: adds an entry to the revoked-token list. Protected by its own
 * credential (`Authorization: Bearer <admin token>`, compared in constant time), never by an
 * access token. Off unless an admin credential is configured (auth.admin.tokenFile or
 * FHIRGW_ADMIN_TOKEN). Body, JSON:
 *
 *   { "jti": "…", "iss": "…", "exp": 1795517999 }   one token (exp optional: how long to remember it)
 *   { "sub": "…", "iss": "…" }                      every token of the subject issued until now
 *   { "client_id": "…", "iss": "…" }                every token issued to the client until now
 *
 * `iss` may be left out when a single issuer is configured.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import { readBoundedBody } from '../http/body.js';
import type { RevocationList } from './revocation.js';

export interface RevocationAdminOptions {
  readonly adminToken: string;
  readonly revocation: RevocationList;
  readonly issuers: readonly string[];
}

const MAX_BODY_BYTES = 4096;

export interface RevocationAdded {
  readonly status: 201;
  readonly body: { readonly revoked: 'jti' | 'sub' | 'client_id'; readonly iss: string };
}

export async function handleRevocationRequest(req: IncomingMessage, options: RevocationAdminOptions): Promise<RevocationAdded> {
  if (!credentialMatches(req.headers.authorization, options.adminToken)) throw new GatewayError('admin_unauthorized');
  if (req.method !== 'POST') throw new GatewayError('method_not_allowed');
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new GatewayError('unsupported_media_type');
  return applyRevocation(await readJson(req), options);
}

/**
 * The revocation a request body asks for, added to the list: the admin endpoint's logic, also
 * called in-process by the console (its "revoke now"), so both revoke alike.
 */
export async function applyRevocation(body: Readonly<Record<string, unknown>>, options: Pick<RevocationAdminOptions, 'revocation' | 'issuers'>): Promise<RevocationAdded> {
  const iss = body['iss'] ?? (options.issuers.length === 1 ? options.issuers[0] : undefined);
  if (typeof iss !== 'string' || !options.issuers.includes(iss)) throw new GatewayError('admin_invalid_request', { reasons: ['admin.iss'] });
  const jti = body['jti'];
  const sub = body['sub'];
  const clientId = body['client_id'];
  // Exactly one target (the reason's name predates client revocation and stays stable).
  if ([jti, sub, clientId].filter((v) => v !== undefined).length !== 1) throw new GatewayError('admin_invalid_request', { reasons: ['admin.jti-or-sub'] });
  if (jti !== undefined) {
    const exp = body['exp'];
    if (typeof jti !== 'string' || jti === '' || jti.length > 512) throw new GatewayError('admin_invalid_request', { reasons: ['admin.jti'] });
    if (exp !== undefined && (typeof exp !== 'number' || !Number.isInteger(exp))) throw new GatewayError('admin_invalid_request', { reasons: ['admin.exp'] });
    await options.revocation.revokeToken(iss, jti, exp as number | undefined);
    return { status: 201, body: { revoked: 'jti', iss } };
  }
  if (clientId !== undefined) {
    if (typeof clientId !== 'string' || clientId === '' || clientId.length > 512) throw new GatewayError('admin_invalid_request', { reasons: ['admin.client'] });
    await options.revocation.revokeClient(iss, clientId);
    return { status: 201, body: { revoked: 'client_id', iss } };
  }
  if (typeof sub !== 'string' || sub === '' || sub.length > 512) throw new GatewayError('admin_invalid_request', { reasons: ['admin.sub'] });
  await options.revocation.revokeSubject(iss, sub);
  return { status: 201, body: { revoked: 'sub', iss } };
}

function credentialMatches(authorization: string | undefined, expected: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!m) return false;
  // Hashing first makes the comparison constant-time whatever the lengths.
  const digest = (v: string): Buffer => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(m[1] as string), digest(expected));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBoundedBody(req, MAX_BODY_BYTES);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('admin_invalid_request', { reasons: ['admin.json'] });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GatewayError('admin_invalid_request', { reasons: ['admin.json'] });
  return parsed as Record<string, unknown>;
}
