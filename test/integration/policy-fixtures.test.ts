/**
 * The policy tests evaluate the inputs the gateway sends, not inputs it never sends: every
 * `with input as` in policies/tests goes through fixtures.rego's request_input, resource_input or
 * resources_input, which print the completed document; this test runs the Rego suite (real opa)
 * and checks every printed document against the zod schemas the gateway's inputs are typed by
 * (src/policy/contract.ts), naming the Rego test whose input does not conform.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import type { z } from 'zod';
import { requestInputSchema, resourceInputSchema, resourcesViewsInputSchema } from '../../src/policy/contract.js';
import { runRegoTests, type InputKind, type RegoTestInput, type RegoTestResult } from '../support/rego-test-inputs.js';

const TESTS = path.resolve('policies/tests');
// The shipped bundle declares resources_document "views": its batched tests evaluate that document.
const SCHEMAS: Record<InputKind, z.ZodType> = { request: requestInputSchema, resource: resourceInputSchema, resources: resourcesViewsInputSchema };

let results: RegoTestResult[];
let documents: RegoTestInput[];

beforeAll(() => {
  ({ results, inputs: documents } = runRegoTests());
}, 60_000);

describe('policy test inputs', () => {
  test('every `with input as` in the Rego tests goes through a fixture that prints what it evaluates', () => {
    let sites = 0;
    for (const file of readdirSync(TESTS).filter((f) => f.endsWith('.rego'))) {
      for (const m of readFileSync(path.join(TESTS, file), 'utf8').matchAll(/with input as (\S+?)\(/g)) {
        sites++;
        expect([file, m[1]]).toEqual([file, expect.stringMatching(/^f\.(request|resource|resources)_input$/)]);
      }
      // A site that is not a call (`with input as doc`) would escape the check above.
      expect(readFileSync(path.join(TESTS, file), 'utf8').match(/with input as (?!f\.(request|resource|resources)_input\()/g)).toBeNull();
    }
    expect(sites).toBeGreaterThan(0);
  });

  test('the suite passed, and its tests evaluated inputs of all three entry points', () => {
    expect(results.filter((r) => r.fail || r.error).map((r) => r.name)).toEqual([]);
    const kinds = new Set(documents.map((d) => d.kind));
    expect([...kinds].sort()).toEqual(['request', 'resource', 'resources']);
    // Most tests evaluate at least one document (the rest test library functions directly).
    expect(new Set(documents.map((d) => d.test)).size).toBeGreaterThan(results.length / 2);
  });

  test('every input a Rego test evaluates is one the gateway could send: valid against the zod contract', () => {
    const invalid = documents.flatMap(({ test, kind, doc }) => {
      const r = SCHEMAS[kind].safeParse(doc);
      return r.success ? [] : [`${test} (${kind}): ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`];
    });
    expect(invalid).toEqual([]);
  });
});
