/**
 * `npm run demo`: the whole product on one machine, with nothing installed but Node. A FHIR server
 * (Medplum's engine, in memory) with synthetic patients, a development token issuer, and the
 * gateway in front, then ready-to-paste curl lines for a patient, a clinician and a researcher.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildConfig } from '../config/load.js';
import { startGateway } from '../server.js';
import { startFhirServer } from './fhir-server.js';
import { freePort, isFree } from './ports.js';
import { seedSyntheticData, SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER } from './synthetic-data.js';
import { startTokenIssuer } from './token-issuer.js';
import { DEMO_CONSOLE_USERS, startDemoConsoleIdp } from './console-idp.js';

export async function runDemo(options: { port?: number } = {}): Promise<{ close(): Promise<void> }> {
  const fhir = await startFhirServer();
  await seedSyntheticData(fhir.repo);
  const host = '127.0.0.1';

  // The public base URL names the port, so the port is settled before the gateway is configured.
  const port = options.port ?? ((await isFree(8080, host)) ? 8080 : await freePort(host));
  if (options.port === undefined && port !== 8080) process.stderr.write(`port 8080 is busy; using ${port}\n`);
  const base = `http://${host}:${port}/fhir`;
  const issuer = await startTokenIssuer({ audience: base });
  // The console on a port of its own, signing in at a demo OpenID Connect provider.
  const consolePort = (await isFree(8081, host)) ? 8081 : await freePort(host);
  const consoleIdp = await startDemoConsoleIdp(`http://${host}:${consolePort}/callback`);
  const config = buildConfig(
    {
      listen: { host, port },
      publicBaseUrl: base,
      upstream: { url: fhir.baseUrl, timeoutMs: 10000 },
      auth: { issuer: issuer.issuer },
      // The audit store embedded (PGlite: the same SQL as PostgreSQL, nothing to install), for the access history.
      audit: { sinks: [{ type: 'stdout' }, { type: 'postgres', name: 'store', embedded: { dir: mkdtempSync(path.join(os.tmpdir(), 'fhirgw-demo-store-')) } }] },
      console: { host, port: consolePort, oidc: { issuer: consoleIdp.issuer, clientId: 'fhir-console', scope: 'openid profile roles' } },
      log: { level: 'warn' },
    },
    { env: {} },
  );
  const gateway = await startGateway(config);
  await gateway.ready;

  const alba = SYNTHETIC_PATIENTS[0];
  const bruno = SYNTHETIC_PATIENTS[1];
  if (!alba || !bruno) throw new Error('synthetic data missing');
  const eightHours = 8 * 3600;
  const patientToken = await issuer.mint(
    { sub: `Patient/${alba.id}`, scope: 'launch/patient openid fhirUser patient/*.rs', patient: alba.id, fhirUser: `Patient/${alba.id}`, roles: ['patient'] },
    { expiresInSeconds: eightHours },
  );
  const clinicianToken = await issuer.mint(
    { sub: `Practitioner/${SYNTHETIC_PRACTITIONER.id}`, scope: 'openid fhirUser user/*.rs', fhirUser: `Practitioner/${SYNTHETIC_PRACTITIONER.id}`, roles: ['clinician'], purpose_of_use: ['TREAT'] },
    { expiresInSeconds: eightHours },
  );
  const researcherToken = await issuer.mint(
    { sub: 'researcher-1', scope: 'user/Patient.rs user/Observation.rs', roles: ['researcher'], purpose_of_use: ['HRESCH'] },
    { expiresInSeconds: eightHours },
  );

  const curl = (token: string, path: string): string => `curl -H "Authorization: Bearer ${token}" '${base}/${path}'`;
  const lines = [
    `fhir-privacy-gateway demo: gateway ${base} in front of a FHIR server at ${fhir.baseUrl} (synthetic data only)`,
    `token issuer ${issuer.issuer}; audit records follow on this output as JSON lines, one per request.`,
    '',
    `# Patient ${alba.given} ${alba.family} reads their own record (allowed):`,
    curl(patientToken, `Patient/${alba.id}`),
    `# ...searches observations: narrowed to their own compartment before it reaches the server:`,
    curl(patientToken, 'Observation'),
    `# ...tries another patient's record (403 OperationOutcome, reason compartment.other-patient):`,
    curl(patientToken, `Patient/${bruno.id}`),
    '',
    '# A clinician (user/*.rs) pages through every observation; links point at the gateway, never the server:',
    curl(clinicianToken, 'Observation?_count=5'),
    '',
    '# A researcher (purpose HRESCH) sees patients de-identified: names, identifiers, contacts removed, birth dates cut to the year:',
    curl(researcherToken, 'Patient'),
    '',
    '# No token: 401 with WWW-Authenticate',
    `curl -i '${base}/Patient/${alba.id}'`,
    '',
    `# The console (privacy officers, policy authors, auditors): open ${gateway.consoleUrl ?? '(off)'} and sign in as`,
    `#   ${DEMO_CONSOLE_USERS.map((u) => `${u.name} (${u.roles.join(', ')})`).join('; ')}`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  return {
    async close() {
      await gateway.close();
      await consoleIdp.close();
      await issuer.close();
      await fhir.close();
    },
  };
}
