/**
 * The policy's reason codes come from one catalogue (src/policy/reasons.json): the Rego constants
 * (policies/fhirgw/lib/reasons.rego), the TypeScript module and docs/errors.md are generated from it
 * (check:generated keeps them current). This test holds the policy, the gateway's code and the
 * tests to it: every code the shipped policy gives while the Rego suite runs (its decisions on every
 * input the suite evaluates, by the real WebAssembly bundle) is listed; every listed code is given
 * by some policy source and documented; no source spells a code as a string where a constant exists.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import { readBundleFile } from '../../src/policy/bundle.js';
import type { FhirResourceJson, RequestInput, ResourcesInput, ResourcesViewsInput } from '../../src/policy/contract.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { POLICY_REASON, POLICY_REASON_CODES } from '../../src/policy/generated/reasons.js';
import { runRegoTests, type RegoTestInput } from '../support/rego-test-inputs.js';

const catalogue = JSON.parse(readFileSync('src/policy/reasons.json', 'utf8')) as { groups: Array<{ codes: string[] }> };
const CODES = new Set(catalogue.groups.flatMap((g) => g.codes));
const GENERATED_REGO = 'policies/fhirgw/lib/reasons.rego';

function files(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
  });
}

/** Rego without its comments (a `#` inside a string literal does not occur in these sources). */
const regoCode = (file: string): string => readFileSync(file, 'utf8').replace(/#.*$/gm, '');
const SOURCES = files('policies/fhirgw', '.rego').filter((f) => f !== GENERATED_REGO);

let inputs: RegoTestInput[];
beforeAll(() => {
  ({ inputs } = runRegoTests());
}, 60_000);

/** The Rego suite's batched documents are the views form the shipped bundle reads; the engine takes items and makes that form itself. */
const itemsOf = (doc: ResourcesViewsInput): ResourcesInput => {
  const { views, items, ...rest } = doc;
  return { ...rest, items: items.map((item) => ({ resource: views[item.view] as FhirResourceJson, facts: item.facts })) };
};

describe('the policy reason catalogue', () => {
  test('every reason the shipped bundle gives on the inputs the Rego suite evaluates is in the catalogue', async () => {
    const policy = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: 512 });
    const given = new Set<string>();
    for (const { kind, doc } of inputs) {
      const decisions =
        kind === 'request'
          ? [policy.decideRequest(doc as RequestInput)]
          : kind === 'resources'
            ? policy.decideResources(itemsOf(doc as ResourcesViewsInput))
            : (() => {
                const { resource, facts, ...rest } = doc as Record<string, unknown>;
                return policy.decideResources({ ...rest, items: [{ resource, facts }] } as unknown as ResourcesInput);
              })();
      for (const d of decisions) for (const r of d.reasons) given.add(r);
    }
    expect(inputs.length).toBeGreaterThan(50);
    expect([...given].filter((r) => !CODES.has(r))).toEqual([]);
    // The suite exercises most of the catalogue (the rest is checked statically below).
    expect(given.size).toBeGreaterThan(CODES.size / 2);
  });

  test('every catalogued code is given by a policy source, as a constant or (where Rego needs a literal) a literal', () => {
    const code = SOURCES.map(regoCode).join('\n');
    const unused = [...CODES].filter((c) => !code.includes(`reasons.${c.replace(/[.-]/g, '_')}`) && !code.includes(JSON.stringify(c)));
    expect(unused).toEqual([]);
  });

  test('policy sources spell a code as a string only where Rego allows no reference (default rules, function heads), and only a catalogued one', () => {
    const shaped = /"([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+|break-glass)"/g;
    const misplaced: string[] = [];
    for (const file of SOURCES) {
      regoCode(file)
        .split('\n')
        .forEach((line, i) => {
          for (const m of line.matchAll(shaped)) {
            const where = `${file}:${i + 1}: ${m[1]}`;
            if (!CODES.has(m[1]!)) misplaced.push(`${where} (not in src/policy/reasons.json)`);
            else if (!/^default |^[a-z_]+\("/.test(line)) misplaced.push(`${where} (use data.fhirgw.lib.reasons.${m[1]!.replace(/[.-]/g, '_')})`);
          }
        });
    }
    expect(misplaced).toEqual([]);
  });

  test('every catalogued code is documented in docs/errors.md and exported to TypeScript under its Rego name', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    expect([...CODES].filter((c) => !doc.includes(`\`${c}\``))).toEqual([]);
    expect(new Set(POLICY_REASON_CODES)).toEqual(CODES);
    expect(Object.fromEntries(Object.entries(POLICY_REASON).map(([k, v]) => [v, k]))).toEqual(Object.fromEntries([...CODES].map((c) => [c, c.replace(/[.-]/g, '_')])));
  });

  test("the gateway's code and the Jest tests use only catalogued codes of the policy's families", () => {
    // Families only the policy gives (the gateway's own codes, docs/errors.md's first table, are elsewhere).
    const family = /'((?:scope|launch|compartment|role|purpose|label|consent|protection|default)(?:\.[a-z0-9-]+)+|break-glass(?:\.[a-z0-9-]+)*)'/g;
    const unknown: string[] = [];
    let seen = 0;
    for (const file of [...files('src', '.ts'), ...files('test', '.ts'), ...files('bench', '.ts')]) {
      for (const m of readFileSync(file, 'utf8').matchAll(family)) {
        seen++;
        if (!CODES.has(m[1]!)) unknown.push(`${file}: ${m[1]}`);
      }
    }
    expect(seen).toBeGreaterThan(0);
    expect(unknown).toEqual([]);
  });
});
