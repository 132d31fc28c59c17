/**
 * `npm run demo`: the whole product on one machine, with nothing installed but Node. A FHIR server
 * (Medplum's engine, in memory) with synthetic patients, a real SMART authorization server
 * (oidc-provider, src/devkit/authorization-server.ts), and the gateway in front; then
 * ready-to-paste curl lines (with -i, so the status and headers show) for a patient, a clinician,
 * a nurse's write, billing, a researcher, a backend service, break-the-glass and a step-up
 * challenge. The audit trail goes to a file; the demo prints one line per request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { buildConfig } from '../config/load.js';
import { startGateway } from '../server.js';
import { DEMO_ACR, startAuthorizationServer, type DemoAuthorizationServer, type DemoUser, type MintRequest } from './authorization-server.js';
import { followAuditTrail } from './audit-summary.js';
import { DEMO_CONSOLE_USERS, startDemoConsoleIdp } from './console-idp.js';
import { DEMO_ROLES } from './demo-roles.js';
import { startFhirServer } from './fhir-server.js';
import { freePort, isFree } from './ports.js';
import { seedSyntheticData, SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER } from './synthetic-data.js';

export interface DemoOptions {
  readonly port?: number;
  /** The authorization server's port (default 8081, or a free one). */
  readonly authPort?: number;
  /** Exact origins of browser apps allowed to call the gateway (CORS); loopback ports 3000 and 9090 by default. */
  readonly allowOrigins?: readonly string[];
  /** Where the demo writes what it prints (default stdout). */
  readonly out?: NodeJS.WritableStream;
}

export interface RunningDemo {
  readonly base: string;
  readonly issuer: string;
  readonly auditFile: string;
  readonly authorizationServer: DemoAuthorizationServer;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

export async function runDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const out = options.out ?? process.stdout;
  const fhir = await startFhirServer();
  await seedSyntheticData(fhir.repo);
  const alba = SYNTHETIC_PATIENTS[0];
  const bruno = SYNTHETIC_PATIENTS[1];
  if (!alba || !bruno) throw new Error('synthetic data missing');
  // A labelled HIV result: what break-the-glass and the privacy office are about.
  await fhir.repo.updateResource({
    resourceType: 'Observation', id: 'obs-hiv-demo', status: 'final', meta: { security: [{ system: ACT_CODE, code: 'HIV' }] },
    code: { coding: [{ system: 'http://loinc.org', code: '75622-1', display: 'HIV 1 and 2 tests' }] }, subject: { reference: `Patient/${alba.id}` },
    effectiveDateTime: '2026-09-01T10:00:00Z', valueString: 'synthetic result',
  });

  // The public base URL names the port, so ports are settled before anything is configured.
  const port = await portFor(options.port, 8080, out, 'gateway');
  const authPort = await portFor(options.authPort, 8081, out, 'authorization server', [port]);
  // The console on a port of its own, signing in at a demo OpenID Connect provider of its own.
  const consolePort = await portFor(undefined, 8082, out, 'console', [port, authPort]);
  const consoleIdp = await startDemoConsoleIdp(`http://${HOST}:${consolePort}/callback`);
  const base = `http://${HOST}:${port}/fhir`;
  const users: DemoUser[] = [
    { id: 'alba', display: `${alba.given} ${alba.family} (patient)`, roles: ['patient'], purposeOfUse: [], fhirUser: `Patient/${alba.id}`, patient: alba.id },
    { id: 'hollis', display: `Dr. ${SYNTHETIC_PRACTITIONER.given} ${SYNTHETIC_PRACTITIONER.family}`, roles: ['clinician'], purposeOfUse: ['TREAT'], fhirUser: `Practitioner/${SYNTHETIC_PRACTITIONER.id}` },
    { id: 'nurse', display: 'Nurse Ada Byron', roles: ['nurse'], purposeOfUse: ['TREAT'], fhirUser: 'Practitioner/prac-nurse' },
    { id: 'privacy', display: 'Privacy officer Pat Lee', roles: ['privacy-officer'], purposeOfUse: [], fhirUser: 'Practitioner/prac-privacy' },
  ];
  const as = await startAuthorizationServer({
    fhirBase: base, host: HOST, port: authPort, users,
    patients: SYNTHETIC_PATIENTS.map((p) => ({ id: p.id, display: `${p.given} ${p.family} (${p.birthDate})` })),
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhir-gateway-demo-'));
  const auditFile = path.join(dir, 'audit.jsonl');
  const config = buildConfig(
    {
      listen: { host: HOST, port },
      publicBaseUrl: base,
      upstream: { url: fhir.baseUrl, timeoutMs: 10000 },
      auth: {
        issuer: as.issuer,
        typ: 'at+jwt',
        assurance: { acr: { [DEMO_ACR.password]: 1, [DEMO_ACR.mfa]: 2 }, challenge: { '2': DEMO_ACR.mfa } },
      },
      cors: { allowedOrigins: [...(options.allowOrigins ?? ['http://127.0.0.1:3000', 'http://localhost:3000', 'http://127.0.0.1:9090', 'http://localhost:9090'])] },
      // The trail in a file (followed below), and the audit store embedded (PGlite: the same SQL as
      // PostgreSQL, nothing to install) for the access history.
      audit: { sinks: [{ type: 'file', path: auditFile }, { type: 'postgres', name: 'store', embedded: { dir: path.join(dir, 'store') } }] },
      console: { host: HOST, port: consolePort, oidc: { issuer: consoleIdp.issuer, clientId: 'fhir-console', scope: 'openid profile roles' } },
      log: { level: 'warn' },
    },
    { env: {} },
  );
  const gateway = await startGateway(config);
  await gateway.ready;
  const follower = followAuditTrail(auditFile, out);

  const mint = (role: string, over: Partial<MintRequest> = {}): Promise<string> => {
    const r = DEMO_ROLES[role];
    if (!r) throw new Error(`no demo role ${role}`);
    return as.mint({ sub: r.sub, scope: r.scope, roles: r.roles, purposeOfUse: r.purposes, ...(r.patient ? { patient: r.patient } : {}), ...(r.fhirUser ? { fhirUser: r.fhirUser } : {}), ...over });
  };
  const backendToken = await clientCredentials(as, 'system/*.rs');
  const tokens = {
    patient: await mint('patient'),
    clinician: await mint('clinician'),
    nurse: await mint('nurse'),
    billing: await mint('billing'),
    researcher: await mint('researcher'),
    breakGlass: await mint('clinician', { purposeOfUse: ['BTG'], breakGlassReason: 'Unconscious patient in the ED', scope: 'user/*.rs' }),
    breakGlassPassword: await mint('clinician', { purposeOfUse: ['BTG'], breakGlassReason: 'Unconscious patient in the ED', scope: 'user/*.rs', acr: DEMO_ACR.password }),
  };

  const curl = (token: string, target: string, extra = ''): string => `curl -i ${extra}-H "Authorization: Bearer ${token}" '${base}/${target}'`;
  const nurseWrite = JSON.stringify({
    resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${alba.id}` }, valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  });
  const lines = [
    `fhir-privacy-gateway demo: gateway ${base} in front of a FHIR server at ${fhir.baseUrl} (synthetic data only)`,
    `authorization server ${as.issuer} (SMART discovery: ${base}/.well-known/smart-configuration; public client id demo-app,`,
    `any loopback redirect URI; EHR launch: ${as.issuer}/ehr-launch?launch_uri=<your app's launch URL>&patient=${alba.id})`,
    `audit trail: ${auditFile} (one line per request below)`,
    `more tokens: npm run demo -- token --role <${Object.keys(DEMO_ROLES).join('|')}> [--scope …] [--purpose BTG --reason "…"] [--acr password]${as.issuer === 'http://127.0.0.1:8081' ? '' : ` --issuer ${as.issuer}`}`,
    '',
    `# Patient ${alba.given} ${alba.family} reads their own record (200):`,
    curl(tokens.patient, `Patient/${alba.id}`),
    `# ...searches observations: narrowed to their own compartment before it reaches the server:`,
    curl(tokens.patient, 'Observation'),
    `# ...asks for another patient's record (403, reason compartment.other-patient):`,
    curl(tokens.patient, `Patient/${bruno.id}`),
    '',
    '# A clinician (user/*.cruds) pages through observations; links point at the gateway, never the server:',
    curl(tokens.clinician, 'Observation?_count=5'),
    '# ...but does not see the HIV result without break-the-glass (404, as if it did not exist):',
    curl(tokens.clinician, 'Observation/obs-hiv-demo'),
    '',
    '# A nurse records a heart rate (a write: 201 with Location):',
    curl(tokens.nurse, 'Observation', `-X POST -H 'Content-Type: application/fhir+json' -d '${nurseWrite}' `),
    '',
    '# Billing (purpose HPAYMT) reads coverage and demographics, no clinical data (Observation: 403):',
    curl(tokens.billing, `Patient/${alba.id}`),
    curl(tokens.billing, 'Observation'),
    '',
    '# A researcher (purpose HRESCH) sees patients de-identified (HIPAA Safe Harbor):',
    curl(tokens.researcher, 'Patient'),
    '',
    '# A backend service (client credentials, private_key_jwt, system/*.rs):',
    curl(backendToken, 'Patient'),
    '',
    '# Break-the-glass after a multi-factor login, with a stated reason: the HIV result, flagged in the audit trail:',
    curl(tokens.breakGlass, 'Observation/obs-hiv-demo'),
    '# ...the same after a password-only login: 401 with an RFC 9470 step-up challenge (acr_values, max_age):',
    curl(tokens.breakGlassPassword, 'Observation/obs-hiv-demo'),
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
  out.write(`${lines.join('\n')}\n`);

  return {
    base,
    issuer: as.issuer,
    auditFile,
    authorizationServer: as,
    async close() {
      await gateway.close();
      await consoleIdp.close();
      await follower.stop();
      await as.close();
      await fhir.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function portFor(asked: number | undefined, preferred: number, out: NodeJS.WritableStream, what: string, taken: number[] = []): Promise<number> {
  if (asked !== undefined) return asked;
  if (!taken.includes(preferred) && (await isFree(preferred, HOST))) return preferred;
  const port = await freePort(HOST);
  out.write(`port ${preferred} is busy; the ${what} uses ${port}\n`);
  return port;
}

/** SMART Backend Services: client credentials, authenticated with a signed client assertion (private_key_jwt). */
export async function clientCredentials(as: DemoAuthorizationServer, scope: string): Promise<string> {
  const key = await importJWK(as.backend.privateJwk, 'ES256');
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: as.backend.privateJwk.kid ?? '', typ: 'JWT' })
    .setIssuer(as.backend.clientId)
    .setSubject(as.backend.clientId)
    .setAudience(as.tokenEndpoint)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
  const res = await fetch(as.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  const body = (await res.json()) as { access_token?: string; error?: string };
  if (res.status !== 200 || typeof body.access_token !== 'string') throw new Error(`client credentials refused: ${res.status} ${body.error ?? ''} ${(body as { error_description?: string }).error_description ?? ''}`);
  return body.access_token;
}
