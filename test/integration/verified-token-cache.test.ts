/**
 * With the verified-token cache on (the default), a token whose verification is cached is still
 * refused once revoked (by jti or subject), once expired, and when presented without its DPoP
 * proof or with another key's proof: only the signature check is remembered.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { dpopProof, newDpopKey } from '../support/dpop.js';
import { jsonOf, startStack, type Stack } from '../support/stack.js';

const ADMIN_TOKEN = 'token-cache-admin-credential-0123456789abcdef';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: (d) => ({ ...d, auth: { issuer: (d.auth as { issuer: string }).issuer, clockToleranceSeconds: 0 } }), env: { FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN } });
});
afterAll(() => stack.close());

const path = `Patient/${SYNTHETIC_PATIENTS[0]!.id}`;
const clinician = { scope: 'user/*.rs', roles: ['clinician'] };
const codesOf = async (res: Response): Promise<string[]> => (await jsonOf(res)).issue[0].details.coding.map((c: { code: string }) => c.code);
const revoke = (body: Record<string, unknown>) =>
  fetch(`${new URL(stack.base).origin}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify(body) });

describe('verified-token cache keeps every per-request check', () => {
  test('a revoked jti is refused although its verification is cached', async () => {
    const token = await stack.issuer.mint({ ...clinician, sub: 'Practitioner/cache-1', jti: 'cache-jti-1' });
    for (let i = 0; i < 2; i++) expect((await stack.fetch(path, { token })).status).toBe(200);
    expect((await revoke({ jti: 'cache-jti-1' })).status).toBe(201);
    const res = await stack.fetch(path, { token });
    expect(res.status).toBe(401);
    expect(await codesOf(res)).toEqual(['token_revoked', 'token.revoked']);
  });

  test('a revoked subject is refused although its verification is cached', async () => {
    const token = await stack.issuer.mint({ ...clinician, sub: 'Practitioner/cache-2', iat: Math.floor(Date.now() / 1000) - 5 });
    expect((await stack.fetch(path, { token })).status).toBe(200);
    expect((await revoke({ sub: 'Practitioner/cache-2' })).status).toBe(201);
    expect(await codesOf(await stack.fetch(path, { token }))).toEqual(['token_revoked', 'token.subject-revoked']);
  });

  test('a cached token is refused from its expiry on', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await stack.issuer.mint({ ...clinician, sub: 'Practitioner/cache-3', exp });
    expect((await stack.fetch(path, { token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
    const res = await stack.fetch(path, { token });
    expect(res.status).toBe(401);
    expect(await codesOf(res)).toEqual(['token_expired', 'token.expired']);
  });

  test('a cached DPoP-bound token still needs a proof by its own key on every request', async () => {
    const key = await newDpopKey();
    const other = await newDpopKey();
    const token = await stack.issuer.mint({ ...clinician, sub: 'Practitioner/cache-4', cnf: { jkt: key.thumbprint } });
    const url = `${stack.base}/${path}`;
    const withProof = async (k: typeof key) => fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(k, { method: 'GET', url, accessToken: token }) } });
    expect((await withProof(key)).status).toBe(200);
    expect((await withProof(key)).status).toBe(200);
    const bearer = await stack.fetch(path, { token });
    expect(bearer.status).toBe(401);
    expect((await withProof(other)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `DPoP ${token}` } })).status).toBe(401);
  });
});
