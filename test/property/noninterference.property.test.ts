/**
 * Noninterference, as a property (issue 15): for each principal, two upstream worlds that differ
 * only in data that principal may not read (test/support/noninterference-cases.ts) give the same
 * answers to every request: status, headers, body and every page reached by `next`, and the same
 * writes sent upstream. Requests are reads, vreads, histories, searches with criteria, modifiers,
 * chains, `_has`, includes and `_sort`, paged walks, JSON Patches with `test`, PUT and DELETE with
 * and without `If-Match`, conditional creates, updates, patches and deletes, and batches and
 * transactions of them, sent with the same token to a gateway in front of each world (the real
 * Medplum engine, the shipped policies).
 *
 * Cases run in sequence against the same worlds, so writes the principal may make accumulate in
 * both worlds alike; a difference shows at the first case that answers differently and is reported
 * with the request, unshrunk (shrinking would replay cases against a changed state).
 * FHIRGW_NI_CASES sets the number of cases over all principals (default 5,000); `npm run fuzz`
 * runs 100 times more.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { INTERACTIONS, PRINCIPALS, requestsFor, seedFor, type Interaction, type NiCase, type Principal } from '../support/noninterference-cases.js';
import { startWorldPair, type WorldPair } from '../support/two-worlds.js';

const CASES = Number(process.env.FHIRGW_NI_CASES ?? 5_000);
const PER_PRINCIPAL = Math.ceil(CASES / PRINCIPALS.length);
const SEED = process.env.FHIRGW_NI_SEED === undefined ? undefined : Number(process.env.FHIRGW_NI_SEED);

describe.each(PRINCIPALS.map((p) => [p.name, p] as const))('two worlds that differ only in what a %s may not read', (_name, principal: Principal) => {
  let worlds: WorldPair;
  let token: string;

  beforeAll(async () => {
    worlds = await startWorldPair({ seed: seedFor(principal) });
    token = await worlds.issuer.mint(principal.claims);
  }, 60_000);
  afterAll(async () => {
    await worlds.close();
  });

  test(`${PER_PRINCIPAL} generated requests get the same answers and send the same writes upstream in both worlds`, async () => {
    const reached = new Map<Interaction, number>();
    const statuses = new Set<number>();
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(requestsFor(principal), async (c: NiCase) => {
        const [a, b] = await worlds.exchange(c.request, token, c.follow);
        sent += 1;
        reached.set(c.interaction, (reached.get(c.interaction) ?? 0) + 1);
        statuses.add(a.answers[0]!.status);
        // Reported with the request, so a counterexample says what differed how.
        expect({ request: c.request, ...b }).toEqual({ request: c.request, ...a });
      }),
      { numRuns: PER_PRINCIPAL, endOnFailure: true, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    expect(sent).toBe(PER_PRINCIPAL);
    // Every interaction class was exercised, with releases and refusals among the answers.
    expect(INTERACTIONS.filter((i) => (reached.get(i) ?? 0) === 0)).toEqual([]);
    expect([...statuses].some((s) => s >= 200 && s < 300)).toBe(true);
    expect([...statuses].some((s) => s >= 400)).toBe(true);
  }, 20 * 60_000);
});
