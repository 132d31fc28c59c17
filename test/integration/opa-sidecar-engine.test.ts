/**
 * The benchmark's sidecar variant asks a real `opa run --server` (the pinned opa, evaluating the
 * Rego sources of the shipped bundle with its own interpreter) for every decision. It is only a fair comparison
 * if it decides exactly as the in-process WebAssembly engine does: same allow, reasons and
 * obligations over a corpus that exercises every layer of the shipped policies.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ensureOpa, ROOT } from '../../scripts/lib/opa.mjs';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import { createOpaHttpEngine, type OpaHttpEngine } from '../../src/devkit/opa-http-engine.js';
import { startOpaServer, type RunningOpaServer } from '../../src/devkit/opa-server.js';
import { readBundleFile } from '../../src/policy/bundle.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { corpusRequestInputs, corpusResourcesInputs } from '../support/decision-corpus.js';

let server: RunningOpaServer;
let sidecar: OpaHttpEngine;
let wasm: PolicyEngine;

beforeAll(async () => {
  server = await startOpaServer({ opa: ensureOpa(), policies: path.join(ROOT, 'policies') });
  wasm = await PolicyEngine.load(await readBundleFile(DEFAULT_POLICY_BUNDLE), { maxMemoryPages: 2048 });
  sidecar = createOpaHttpEngine({ url: server.url, revision: wasm.revision });
});

afterAll(async () => {
  sidecar?.close();
  await server?.close();
});

describe('OPA server sidecar engine (benchmark variant)', () => {
  test('decides every request of the corpus exactly as the in-process engine', async () => {
    const inputs = corpusRequestInputs();
    const decisions = await Promise.all(inputs.map((i) => sidecar.decideRequest(i)));
    expect(decisions).toEqual(inputs.map((i) => wasm.decideRequest(i)));
    // The corpus is not trivially uniform: it holds allows and denies.
    expect(new Set(decisions.map((d) => d.allow))).toEqual(new Set([true, false]));
  });

  test('decides every resource of the corpus exactly as the in-process engine', async () => {
    for (const input of corpusResourcesInputs()) {
      expect(await sidecar.decideResources(input)).toEqual(wasm.decideResources(input));
    }
    const all = corpusResourcesInputs().flatMap((i) => wasm.decideResources(i));
    expect(all.some((d) => (d.obligations.redact ?? []).length > 0)).toBe(true);
    expect(all.some((d) => d.reasons.some((r) => r.startsWith('consent.')))).toBe(true);
    expect(all.some((d) => d.obligations.audit?.break_glass === true)).toBe(true);
  });

  test('an unreachable policy server is a policy_error, never an allow', async () => {
    const gone = createOpaHttpEngine({ url: 'http://127.0.0.1:9', revision: 'x' });
    const input = corpusRequestInputs()[0]!;
    await expect(gone.decideRequest(input)).rejects.toMatchObject({ code: 'policy_error' });
    gone.close();
  });
});
