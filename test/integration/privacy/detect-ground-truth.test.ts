/**
 * The detector's ground-truth run, smaller than bench:detect: a generated hospital whose care
 * relationships, labels and relatives live in Medplum's FHIR engine (real HTTP), read by the
 * detector through the gateway's upstream client with its own credentials, over sealed audit
 * records with known snooping injected. Precision and recall per signal meet the goals
 * (recall >= 0.95, precision >= 0.8).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { buildConfig } from '../../../src/config/load.js';
import { startFhirServer, type RunningFhirServer } from '../../../src/devkit/fhir-server.js';
import { createUpstreamPatientFacts } from '../../../src/detect/patient-facts.js';
import { createUpstreamAccess } from '../../../src/proxy/upstream-access.js';
import { createUpstreamClient } from '../../../src/proxy/upstream-client.js';
import { evaluate } from '../../../bench/detect/evaluate.js';
import { generateWorkload, type Workload } from '../../../bench/detect/workload.js';

let fhir: RunningFhirServer;
let workload: Workload;

beforeAll(async () => {
  fhir = await startFhirServer();
  workload = generateWorkload({ seed: 5, explained: 2500, injected: 20, teams: 4, staffPerTeam: 6, patientsPerTeam: 30 });
  for (const r of workload.resources) await fhir.repo.updateResource(r as unknown as Resource);
}, 60_000);
afterAll(() => fhir.close());

describe('detector ground truth', () => {
  test('each signal reaches recall >= 0.95 and precision >= 0.8, with the facts read from the FHIR server', async () => {
    const config = buildConfig({ publicBaseUrl: 'https://gw.example/fhir', upstream: { url: fhir.baseUrl }, auth: { issuer: 'https://idp.example' } }, { env: {} });
    const access = createUpstreamAccess(config, {});
    const client = createUpstreamClient({ upstreamUrl: fhir.baseUrl, timeoutMs: 5000, maxResponseBytes: 10_000_000, access });
    const facts = createUpstreamPatientFacts({ client, ttlSeconds: 3600, maxPatients: 10_000 });
    try {
      const result = await evaluate(workload, { facts });
      for (const s of result.scores) {
        expect({ signal: s.signal, truth: s.truth }).toEqual({ signal: s.signal, truth: 20 * (s.signal === 'unexplained' ? 3 : 1) });
        expect({ signal: s.signal, recall: s.recall >= 0.95, precision: s.precision >= 0.8 }).toEqual({ signal: s.signal, recall: true, precision: true });
      }
    } finally {
      access.close();
    }
  }, 120_000);
});
