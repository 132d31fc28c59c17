/** The hash chain: sealing, and verification finding the first edited, missing or moved record. */
import { describe, expect, test } from '@jest/globals';
import { canonicalJson, GENESIS, seal, verifyChain } from '../../src/audit/chain.js';
import { asEntries, sampleRecord, sealedTrail, TEST_KEY } from '../support/audit.js';
import { assertValid } from '../support/schemas.js';

describe('audit hash chain', () => {
  test('sealed records link to their predecessor, carry a stable delivery id and match the published schema', () => {
    const trail = sealedTrail(3);
    expect(trail.map((r) => r.chain.seq)).toEqual([1, 2, 3]);
    expect(trail[0]!.chain.prev).toBe(GENESIS);
    expect(trail[1]!.chain.prev).toBe(trail[0]!.chain.hash);
    expect(trail[2]!.deliveryId).toBe('inst-a/3');
    for (const r of trail) assertValid('audit-record.schema.json', r);
    expect(verifyChain(asEntries(trail), TEST_KEY)).toMatchObject({ ok: true, records: 3, duplicates: 0, problem: null });
  });

  test('canonical JSON does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } })).toBe(canonicalJson({ a: { c: null, d: [1, { e: 3, f: 2 }] }, b: 1 }));
  });

  test('an edited record is reported as edited, at its position', () => {
    const trail = sealedTrail(5);
    const edited = trail.map((r) => ({ ...r }));
    edited[2] = { ...trail[2]!, kind: 'request', outcome: { ...(trail[2] as { outcome: object }).outcome, decision: 'deny' } } as typeof trail[number];
    const report = verifyChain(asEntries(edited), TEST_KEY);
    expect(report.problem).toMatchObject({ kind: 'edited', position: 'line 3', seq: 3 });
  });

  test('a deleted record is reported as missing, naming its sequence number', () => {
    const trail = sealedTrail(5);
    const report = verifyChain(asEntries([...trail.slice(0, 2), ...trail.slice(3)]), TEST_KEY);
    expect(report.problem).toMatchObject({ kind: 'missing', seq: 3, position: 'line 3' });
  });

  test('a deleted tail after the last record is not a broken link, but a record re-sealed without the key is', () => {
    const trail = sealedTrail(4);
    expect(verifyChain(asEntries(trail.slice(0, 3)), TEST_KEY).ok).toBe(true);
    // An attacker without the key re-seals an edited record with a plain hash: a downgrade.
    const forged = seal(sampleRecord({ outcome: { decision: 'deny', reasons: [], error: 'forbidden', status: 403, breakGlass: false } }), 'inst-a', { seq: 1, hash: trail[0]!.chain.hash }, null);
    const report = verifyChain(asEntries([trail[0]!, forged, ...trail.slice(2)]), TEST_KEY);
    expect(report.problem).toMatchObject({ kind: 'unkeyed', seq: 2 });
  });

  test('a record re-sealed with the wrong key is reported as edited', () => {
    const trail = sealedTrail(3);
    const wrong = seal(sampleRecord(), 'inst-a', { seq: 1, hash: trail[0]!.chain.hash }, Buffer.from('another-key-that-is-long-enough-0000', 'utf8'));
    expect(verifyChain(asEntries([trail[0]!, wrong, trail[2]!]), TEST_KEY).problem).toMatchObject({ kind: 'edited', seq: 2 });
  });

  test('two swapped records are reported as reordered, not missing', () => {
    const trail = sealedTrail(5);
    const swapped = [trail[0]!, trail[1]!, trail[3]!, trail[2]!, trail[4]!];
    expect(verifyChain(asEntries(swapped), TEST_KEY).problem).toMatchObject({ kind: 'reordered', position: 'line 3', seq: 4 });
  });

  test('a record moved back is reported as reordered', () => {
    const trail = sealedTrail(5);
    const moved = [trail[0]!, trail[2]!, trail[3]!, trail[1]!, trail[4]!];
    expect(verifyChain(asEntries(moved), TEST_KEY).problem?.kind).toBe('reordered');
  });

  test('a record replaced by another validly sealed one breaks the next link', () => {
    const trail = sealedTrail(4);
    const replaced = seal(sampleRecord(), 'inst-a', { seq: 1, hash: trail[0]!.chain.hash }, TEST_KEY);
    const report = verifyChain(asEntries([trail[0]!, replaced, trail[2]!, trail[3]!]), TEST_KEY);
    expect(report.problem).toMatchObject({ kind: 'broken-link', seq: 3 });
  });

  test('exact duplicates (replays) are counted, not reported; a different record with the same seq is a fork', () => {
    const trail = sealedTrail(3);
    const replayed = verifyChain(asEntries([trail[0]!, trail[1]!, trail[1]!, trail[2]!, trail[2]!]), TEST_KEY);
    expect(replayed).toMatchObject({ ok: true, records: 3, duplicates: 2 });
    const other = seal(sampleRecord(), 'inst-a', { seq: 1, hash: trail[0]!.chain.hash }, TEST_KEY);
    expect(verifyChain(asEntries([...trail, other]), TEST_KEY).problem?.kind).toBe('forked');
  });

  test('chains of several instances interleaved are checked per instance', () => {
    const a = sealedTrail(3, TEST_KEY, 'inst-a');
    const b = sealedTrail(3, TEST_KEY, 'inst-b');
    const mixed = [a[0]!, b[0]!, b[1]!, a[1]!, a[2]!, b[2]!];
    expect(verifyChain(asEntries(mixed), TEST_KEY)).toMatchObject({ ok: true, records: 6 });
    expect(verifyChain(asEntries([a[0]!, b[0]!, a[2]!, b[1]!]), TEST_KEY).problem).toMatchObject({ kind: 'missing', instance: 'inst-a', seq: 2 });
  });

  test('a line that is not a record is reported as malformed', () => {
    const trail = sealedTrail(2);
    expect(verifyChain([...asEntries(trail), { position: 'line 3', text: '{"hello":' }], TEST_KEY).problem).toMatchObject({ kind: 'malformed', position: 'line 3' });
  });

  test('a keyed trail cannot be checked without the key', () => {
    expect(() => verifyChain(asEntries(sealedTrail(1)), null)).toThrow(TypeError);
  });
});
