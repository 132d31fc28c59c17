/**
 * The devkit's large exports (used by the benchmark's NDJSON scenario): files repeat their
 * resources with distinct ids, generated as they are sent.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startFhirServer, type RunningFhirServer } from '../../src/devkit/fhir-server.js';
import { SYNTHETIC_PATIENTS, seedSyntheticData } from '../../src/devkit/synthetic-data.js';

let fhir: RunningFhirServer;
beforeAll(async () => {
  fhir = await startFhirServer({ bulkRepeat: 3 });
  await seedSyntheticData(fhir.repo);
});
afterAll(() => fhir.close());

test('an export file holds each resource bulkRepeat times, each copy with its own id', async () => {
  const kickoff = await fetch(`${fhir.baseUrl}/$export?_type=Patient`, { headers: { prefer: 'respond-async' } });
  const status = kickoff.headers.get('content-location')!;
  await fetch(status);
  const manifest = (await (await fetch(status)).json()) as { output: Array<{ url: string }> };
  const file = await fetch(manifest.output[0]!.url);
  expect(file.headers.get('content-type')).toBe('application/fhir+ndjson');
  const lines = (await file.text()).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { id: string; name: unknown });
  const ids = SYNTHETIC_PATIENTS.map((p) => p.id);
  expect(lines.map((l) => l.id).sort()).toEqual([...ids, ...ids.map((id) => `${id}-r1`), ...ids.map((id) => `${id}-r2`)].sort());
  expect(lines.find((l) => l.id === 'pat-alba-r2')!.name).toEqual(lines.find((l) => l.id === 'pat-alba')!.name);
});
