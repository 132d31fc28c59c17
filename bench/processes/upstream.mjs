// The upstream of the benchmark, in its own process: Medplum's FHIR engine over HTTP with
// generated synthetic patients, and Bulk Data files repeated up to the size asked for.
// Started by bench/run.ts (fork, IPC): argv[2] = {"patients", "observationsPerPatient", "bulkMb"}.
// The devkit's code: the build (dist/) by default; FHIRGW_BENCH_CODE points elsewhere (src/ under tsx, for the smoke test).
const code = process.env.FHIRGW_BENCH_CODE ?? new URL('../../dist/', import.meta.url).href;
const { startFhirServer } = await import(new URL('devkit/fhir-server.js', code).href);
const { seedSyntheticData } = await import(new URL('devkit/synthetic-data.js', code).href);

const { patients, observationsPerPatient, bulkMb } = JSON.parse(process.argv[2]);
const seed = { extraPatients: patients - 3, observationsPerPatient };

// The size of one copy of the Observation export decides how many copies make bulkMb.
const probe = await startFhirServer();
await seedSyntheticData(probe.repo, seed);
const { entry = [] } = await (await fetch(`${probe.baseUrl}/Observation?_count=100000`)).json();
const bytesPerCopy = entry.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e.resource)) + 1, 0);
await probe.close();

const bulkRepeat = Math.max(1, Math.ceil((bulkMb * 1e6) / bytesPerCopy));
const fhir = await startFhirServer({ bulkRepeat });
await seedSyntheticData(fhir.repo, seed);
// The devkit records every request for tests; the benchmark sends millions.
setInterval(() => fhir.requests.splice(0), 1000).unref();
process.send({ ready: true, url: fhir.baseUrl, pid: process.pid, observations: entry.length, bulkRepeat, bulkBytes: bytesPerCopy * bulkRepeat });
process.on('SIGTERM', () => fhir.close().then(() => process.exit(0)));
