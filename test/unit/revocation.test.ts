/** The revoked-token list: by jti, by subject (tokens issued up to the revocation), fail closed. */
import { describe, expect, test } from '@jest/globals';
import { createRevocationList } from '../../src/auth/revocation.js';
import { createMemoryStateStore, StateStoreError, type AuthStateStore } from '../../src/auth/state-store.js';

const clock = { t: 1_800_000_000_000 };
const listWith = (store: AuthStateStore = createMemoryStateStore({ maxEntries: 100, whenFull: 'refuse', now: () => clock.t }), onStoreError: 'deny' | 'allow' = 'deny', bypassed: unknown[] = []) =>
  createRevocationList({ store, onStoreError, subjectSeconds: 3600, jtiSeconds: 3600, now: () => clock.t, onBypass: (e) => bypassed.push(e) });
const outcome = (p: Promise<void>) => p.then(() => 'ok', (e: { code: string; reasons: string[] }) => `${e.code}:${e.reasons.join(',')}`);
const token = (over: Partial<{ iss: string; sub: string | null; jti: string | null; clientId: string | null; iat: number | null }> = {}) => ({ iss: 'https://idp', sub: 'alice', jti: 'j1', clientId: 'app-1', iat: clock.t / 1000 - 60, ...over });

describe('revocation list', () => {
  test('a revoked jti is refused; the same jti of another issuer is not', async () => {
    const list = listWith();
    await list.revokeToken('https://idp', 'j1');
    expect(await outcome(list.check(token()))).toBe('token_revoked:token.revoked');
    expect(await outcome(list.check(token({ iss: 'https://other' })))).toBe('ok');
    expect(await outcome(list.check(token({ jti: 'j2' })))).toBe('ok');
  });

  test('a jti entry lasts until the token expires, and then goes', async () => {
    const store = createMemoryStateStore({ maxEntries: 100, whenFull: 'refuse', now: () => clock.t });
    const list = listWith(store);
    await list.revokeToken('https://idp', 'j1', clock.t / 1000 + 120);
    expect(await outcome(list.check(token()))).toBe('token_revoked:token.revoked');
    clock.t += 190_000;
    expect(await outcome(list.check(token()))).toBe('ok');
  });

  test('revoking a subject refuses its tokens issued until then, not those issued after', async () => {
    const list = listWith();
    await list.revokeSubject('https://idp', 'alice');
    expect(await outcome(list.check(token({ jti: 'x' })))).toBe('token_revoked:token.subject-revoked');
    expect(await outcome(list.check(token({ jti: 'x', iat: null })))).toBe('token_revoked:token.subject-revoked');
    expect(await outcome(list.check(token({ jti: 'x', iat: clock.t / 1000 + 1 })))).toBe('ok');
    expect(await outcome(list.check(token({ sub: 'bob' })))).toBe('ok');
  });

  test('revoking a client refuses every token issued to it until then, whoever the user, and not those issued after or to another client', async () => {
    const list = listWith();
    await list.revokeClient('https://idp', 'app-1');
    expect(await outcome(list.check(token({ jti: 'x' })))).toBe('token_revoked:token.client-revoked');
    expect(await outcome(list.check(token({ jti: 'y', sub: 'bob' })))).toBe('token_revoked:token.client-revoked');
    expect(await outcome(list.check(token({ jti: 'z', iat: null })))).toBe('token_revoked:token.client-revoked');
    expect(await outcome(list.check(token({ jti: 'x', iat: clock.t / 1000 + 1 })))).toBe('ok');
    expect(await outcome(list.check(token({ jti: 'x', clientId: 'app-2' })))).toBe('ok');
    expect(await outcome(list.check(token({ jti: 'x', iss: 'https://other' })))).toBe('ok');
  });

  test('a store that fails denies by default, or lets through and reports when configured so', async () => {
    const broken: AuthStateStore = { claimOnce: async () => true, put: async () => {}, getMany: async () => Promise.reject(new StateStoreError('down')) };
    expect(await outcome(listWith(broken).check(token()))).toBe('auth_state_unavailable:revocation.store');
    const bypassed: unknown[] = [];
    expect(await outcome(listWith(broken, 'allow', bypassed).check(token()))).toBe('ok');
    expect(bypassed).toHaveLength(1);
  });

  test('the memory store refuses new revocations when full rather than forgetting old ones', async () => {
    const list = listWith(createMemoryStateStore({ maxEntries: 2, whenFull: 'refuse', now: () => clock.t }));
    await list.revokeToken('https://idp', 'a');
    await list.revokeToken('https://idp', 'b');
    await expect(list.revokeToken('https://idp', 'c')).rejects.toBeInstanceOf(StateStoreError);
    expect(await outcome(list.check(token({ jti: 'a' })))).toBe('token_revoked:token.revoked');
  });
});
