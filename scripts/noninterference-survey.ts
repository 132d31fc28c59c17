/**
 * How far a build is from noninterference, class by class: runs the two-world cases of the property
 * test (test/support/noninterference-cases.ts) for every principal without stopping at the first
 * difference, and prints, per interaction class and principal, how many generated requests got
 * different answers (or sent different writes upstream) in two worlds that differ only in what the
 * principal may not read. After a differing write the worlds are started afresh, so one divergence
 * does not taint the cases after it.
 *
 *   npx tsx scripts/noninterference-survey.ts [--cases 300] [--seed 1]
 *
 * The property test asserts zero everywhere; this is for measuring a build that is not there yet
 * (docs/noninterference-baseline.md has the survey of the commit before the fixes).
 */
import { isDeepStrictEqual, parseArgs } from 'node:util';
import fc from 'fast-check';
import { INTERACTIONS, PRINCIPALS, requestsFor, seedFor, type Interaction } from '../test/support/noninterference-cases.js';
import { startWorldPair, type WorldPair } from '../test/support/two-worlds.js';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '300' }, seed: { type: 'string', default: '1' } } });
const perPrincipal = Number(values.cases);
const seed = Number(values.seed);

const rows = new Map<Interaction, Map<string, { sent: number; differed: number }>>();
const examples = new Map<Interaction, string>();
for (const principal of PRINCIPALS) {
  let worlds: WorldPair = await startWorldPair({ seed: seedFor(principal) });
  let token = await worlds.issuer.mint(principal.claims);
  for (const c of fc.sample(requestsFor(principal), { seed, numRuns: perPrincipal })) {
    const [a, b] = await worlds.exchange(c.request, token, c.follow);
    const row = rows.get(c.interaction) ?? new Map();
    rows.set(c.interaction, row);
    const cell = row.get(principal.name) ?? { sent: 0, differed: 0 };
    row.set(principal.name, cell);
    cell.sent++;
    if (isDeepStrictEqual(a, b)) continue;
    cell.differed++;
    if (!examples.has(c.interaction)) examples.set(c.interaction, `${principal.name}: ${c.request.method} ${c.request.path}${c.request.body ? ` ${c.request.body.slice(0, 160)}` : ''} -> ${a.answers[0]?.status} / ${b.answers[0]?.status}`);
    if (c.request.method !== 'GET') {
      await worlds.close();
      worlds = await startWorldPair({ seed: seedFor(principal) });
      token = await worlds.issuer.mint(principal.claims);
    }
  }
  await worlds.close();
}

const names = PRINCIPALS.map((p) => p.name);
console.log(`| class | ${names.join(' | ')} |`);
console.log(`|---|${names.map(() => '---').join('|')}|`);
for (const interaction of INTERACTIONS) {
  const row = rows.get(interaction);
  console.log(`| ${interaction} | ${names.map((n) => { const c = row?.get(n); return c ? `${c.differed}/${c.sent}` : '-'; }).join(' | ')} |`);
}
console.log('\nFirst differing request per class:');
for (const [interaction, example] of examples) console.log(`- ${interaction}: ${example}`);
