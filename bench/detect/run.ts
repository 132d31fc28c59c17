/**
 * `npm run bench:detect`: the detector's precision and recall per signal on a generated hospital
 * with known ground truth (10,000 explained accesses, 50 injected per signal; workload.ts).
 *
 *   npm run bench:detect                      the full workload
 *   npm run bench:detect -- --seed 7 --explained 20000 --injected 100 --out bench/results
 *
 * Prints a table and writes bench/results/detect-<date>.json. Exit 1 when a signal misses the goal
 * (recall >= 0.95 and precision >= 0.8).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { evaluate, formatScores } from './evaluate.js';
import { BENCH_WORKLOAD, generateWorkload, memoryPatientFacts } from './workload.js';

const { values } = parseArgs({ options: { seed: { type: 'string' }, explained: { type: 'string' }, injected: { type: 'string' }, out: { type: 'string' } }, strict: true });
const options = {
  ...BENCH_WORKLOAD,
  ...(values.seed ? { seed: Number(values.seed) } : {}),
  ...(values.explained ? { explained: Number(values.explained) } : {}),
  ...(values.injected ? { injected: Number(values.injected) } : {}),
};
const workload = generateWorkload(options);
const result = await evaluate(workload, { facts: memoryPatientFacts(workload.resources) });
process.stdout.write(`${formatScores(result)}\n\n${result.records} records, ${result.cases} cases, ${(result.records / result.seconds).toFixed(0)} records/s\n`);
const out = values.out ?? 'bench/results';
mkdirSync(out, { recursive: true });
const file = path.join(out, `detect-${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(file, `${JSON.stringify({ workload: options, ...result }, null, 2)}\n`);
process.stdout.write(`written ${file}\n`);
const missed = result.scores.filter((s) => s.recall < 0.95 || s.precision < 0.8);
process.exit(missed.length === 0 ? 0 : 1);
