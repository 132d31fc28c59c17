/**
 * De-identification cost of the researcher's 1,000-entry search, old and new side by side in one
 * run: the key-name walk the gateway used before (bench/lib/key-walk-baseline.ts, kept for this
 * comparison only) against the type-directed walk (src/enforce/deidentify.ts, both profiles), on
 * the same searchset the main benchmark uses (253 synthetic patients, 4 Observations each, the
 * first 1,000), interleaved iteration by iteration so that both see the same machine. Then the
 * whole enforce stage of the researcher (policy, facts, redaction, links), as `npm run bench`
 * measures it, with the new walk.
 *
 * Run: npm run bench:deidentify [-- --iterations N]   (writes bench/results/<date>-deidentify.md)
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_POLICY_BUNDLE } from '../src/config/load.js';
import { startFhirServer } from '../src/devkit/fhir-server.js';
import { seedSyntheticData } from '../src/devkit/synthetic-data.js';
import { deidentify, type DeidProfile } from '../src/enforce/deidentify.js';
import { readBundleFile } from '../src/policy/bundle.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { keyWalkSafeHarbor } from './lib/key-walk-baseline.js';
import { measureEnforce } from './lib/in-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { iterations: { type: 'string', default: '60' }, out: { type: 'string' } } });
const iterations = Number(args.iterations);

type Json = Record<string, unknown>;
const ctx = { now: new Date(), pseudonymKey: new Uint8Array(32).fill(7) };

const walks: Record<string, (r: Json) => unknown> = {
  'key-name walk (before)': (r) => keyWalkSafeHarbor(r, ctx),
  'type walk, safe-harbor (after)': (r) => deidentify(r, 'safe-harbor' satisfies DeidProfile, ctx),
  'type walk, limited-data-set': (r) => deidentify(r, 'limited-data-set', ctx),
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function main(): Promise<void> {
  const fhir = await startFhirServer();
  await seedSyntheticData(fhir.repo, { extraPatients: 250, observationsPerPatient: 4 });
  const bundleText = await (await fetch(`${fhir.baseUrl}/Observation?_count=1000`)).text();
  const entries = (JSON.parse(bundleText) as { entry: unknown[] }).entry.length;

  // Each iteration de-identifies a fresh parse of the Bundle's resources; only the walk is timed.
  const times = new Map<string, number[]>(Object.keys(walks).map((k) => [k, []]));
  const fresh = (): Json[] => (JSON.parse(bundleText) as { entry: Array<{ resource: Json }> }).entry.map((e) => e.resource);
  for (let i = 0; i < 10 + iterations; i++) {
    for (const [name, walk] of Object.entries(walks)) {
      const resources = fresh();
      const t0 = process.cpuUsage();
      for (const r of resources) walk(r);
      const used = process.cpuUsage(t0);
      const ms = (used.user + used.system) / 1000;
      if (i >= 10) times.get(name)?.push(ms); // the first ten warm the JIT
    }
  }

  const engine = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: 2048 });
  const enforce = await measureEnforce({ role: 'researcher', bundleText, engine, upstreamBase: fhir.baseUrl, publicBase: 'https://fhir.bench.example/fhir', iterations: 40 });
  await fhir.close();

  const rows = [...times].map(([name, t]) => {
    const sorted = [...t].sort((a, b) => a - b);
    return `| ${name} | ${entries} | ${(t.reduce((a, b) => a + b, 0) / t.length).toFixed(2)} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 90).toFixed(2)} |`;
  });
  const report = [
    `# De-identification of the researcher's ${entries}-entry search (${new Date().toISOString().slice(0, 10)})`,
    '',
    `Node ${process.version}, ${iterations} interleaved iterations per walk after 10 warm-up rounds; CPU time of the walk alone, per Bundle.`,
    '',
    '| walk | entries | mean ms | p50 ms | p90 ms |',
    '|---|---:|---:|---:|---:|',
    ...rows,
    '',
    `Whole enforce stage of the researcher (as in \`npm run bench\`, CPU ms per Bundle, ${enforce.iterations} iterations): policy ${enforce.policyMs.toFixed(2)}, redaction and the rest ${enforce.redactionMs.toFixed(2)}, total ${enforce.totalMs.toFixed(2)} (${Math.round(enforce.resourcesPerSecondPerCore).toLocaleString('en-US')} resources/s/core).`,
    '',
  ].join('\n');
  process.stdout.write(report);
  const out = args.out ?? path.join(ROOT, 'bench/results', `${new Date().toISOString().slice(0, 10)}-deidentify.md`);
  writeFileSync(out, report);
}

await main();
