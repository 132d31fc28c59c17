import { randomBytes } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { createCursorCodec, type CursorState } from '../../src/paging/cursor.js';
import { GatewayError } from '../../src/errors.js';
import { classify } from '../../src/fhir/classify.js';

const codec = createCursorCodec(new Uint8Array(randomBytes(32)), 600);
const alice = { iss: 'https://idp', sub: 'alice', clientId: 'app' };
const now = new Date('2026-12-01T10:00:00Z');
const request = classify('GET', '/fhir/Observation?code=x&_count=2', { basePath: '/fhir', pagingParameters: new Set(['_offset']) });
const state = (upstream: string, skip: number): CursorState => ({ request, upstream, skip, count: 2, page: 1 });

const reasonOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'opened';
  } catch (err) {
    return err instanceof GatewayError ? `${err.code}:${err.reasons.join(',')}` : 'other';
  }
};

describe('paging cursors', () => {
  test('what is sealed opens unchanged, for the principal it was sealed for', () => {
    const s = state('/Observation?code=x&_count=5&_offset=35', 3);
    expect(codec.open(codec.seal(s, alice, now), alice, now)).toEqual(s);
  });

  test('another principal, a tampered byte or another key cannot open it', () => {
    const token = codec.seal(state('/Observation?_offset=5', 0), alice, now);
    expect(reasonOf(() => codec.open(token, { ...alice, sub: 'bob' }, now))).toBe('invalid_request:paging.cursor-invalid');
    expect(reasonOf(() => codec.open(token, { ...alice, clientId: 'other-app' }, now))).toBe('invalid_request:paging.cursor-invalid');
    const flipped = `${token.slice(0, 20)}${token[20] === 'A' ? 'B' : 'A'}${token.slice(21)}`;
    expect(reasonOf(() => codec.open(flipped, alice, now))).toBe('invalid_request:paging.cursor-invalid');
    const other = createCursorCodec(new Uint8Array(randomBytes(32)), 600);
    expect(reasonOf(() => other.open(token, alice, now))).toBe('invalid_request:paging.cursor-invalid');
    expect(reasonOf(() => codec.open('not a cursor', alice, now))).toBe('invalid_request:paging.cursor-invalid');
  });

  test('it expires', () => {
    const token = codec.seal(state('/Observation?_offset=5', 0), alice, now);
    expect(reasonOf(() => codec.open(token, alice, new Date(now.getTime() + 599_000)))).toBe('opened');
    expect(reasonOf(() => codec.open(token, alice, new Date(now.getTime() + 601_000)))).toBe('invalid_request:paging.cursor-expired');
  });

  test('its length depends on the search, not on how far upstream it points (which counts withheld entries)', () => {
    const lengths = new Set(
      [
        ['/Observation?code=x&_count=5&_offset=5', 0],
        ['/Observation?code=x&_count=5&_offset=123455', 4],
        ['/?_getpages=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0&_getpagesoffset=99999&_count=5&_bundletype=searchset', 1234567],
      ].map(([upstream, skip]) => codec.seal(state(upstream as string, skip as number), alice, now).length),
    );
    expect(lengths.size).toBe(1);
  });

  test('an upstream link far longer than its search is refused, never sealed at a telling length', () => {
    expect(reasonOf(() => codec.seal(state(`/Observation?token=${'x'.repeat(2000)}`, 0), alice, now))).toBe('upstream_bad_response:upstream.paging-link-too-long');
  });

  test('two seals of the same position differ (a fresh nonce each time)', () => {
    const s = state('/Observation?_offset=5', 0);
    expect(codec.seal(s, alice, now)).not.toBe(codec.seal(s, alice, now));
  });
});
