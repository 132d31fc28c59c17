/**
 * `fhir-gateway policy build|test|eval|diff`, run with the real opa, the shipped policies and, for
 * diff, an audit trail a real gateway wrote while serving real tokens.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toDecisionLog } from '../../src/audit/formats/decision-log.js';
import { runPolicyCommand } from '../../src/policy-cli/command.js';
import { sourceRevision } from '../../src/policy/toolchain.js';
import { ensureOpa } from '../../scripts/lib/opa.mjs';
import { startStack, waitForAudit, type Stack } from '../support/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SHIPPED = path.join(ROOT, 'policies/dist/bundle.tar.gz');
let tmp: string;
let candidate: string;

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runPolicyCommand(args, (t) => (out += t), (t) => (err += t));
  return { code, out, err };
}

beforeAll(async () => {
  process.env['FHIRGW_OPA'] = ensureOpa();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-policy-cli-'));
  // The candidate: the shipped library, with billing no longer reading Encounters.
  const dir = path.join(tmp, 'candidate');
  cpSync(path.join(ROOT, 'policies'), dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}dist`) });
  const rolesFile = path.join(dir, 'fhirgw/roles/data.json');
  const roles = JSON.parse(readFileSync(rolesFile, 'utf8'));
  roles.billing.read = roles.billing.read.filter((t: string) => t !== 'Encounter');
  writeFileSync(rolesFile, JSON.stringify(roles, null, 2));
  candidate = path.join(tmp, 'candidate.tar.gz');
  const built = await run('build', '--dir', dir, '--out', candidate);
  expect(built.code).toBe(0);
  expect(built.out).toContain(`revision ${sourceRevision(dir)}`);
}, 120_000);

afterAll(() => {
  delete process.env['FHIRGW_OPA'];
  rmSync(tmp, { recursive: true, force: true });
});

describe('policy build', () => {
  test('builds the same bytes as the shipped bundle from the same sources', async () => {
    const copy = path.join(tmp, 'same');
    cpSync(path.join(ROOT, 'policies'), copy, { recursive: true });
    const out = path.join(tmp, 'same.tar.gz');
    expect((await run('build', '--dir', copy, '--out', out)).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(SHIPPED))).toBe(true);
  });

  test('a policy that does not compile fails the build', async () => {
    const dir = path.join(tmp, 'broken');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'request.rego'), 'package fhirgw.request\n\ndecision := {"allow": input.x +}\n');
    const result = await run('build', '--dir', dir, '--out', path.join(tmp, 'broken.tar.gz'));
    expect(result.code).toBe(1);
    expect(existsSync(path.join(tmp, 'broken.tar.gz'))).toBe(false);
  });
});

describe('the input contract (opa check --strict --schema)', () => {
  // The shipped tree builds (above); the same tree with one misspelt read of input does not.
  function misspelt(name: string): string {
    const dir = path.join(tmp, name);
    cpSync(path.join(ROOT, 'policies'), dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}dist`) });
    const file = path.join(dir, 'fhirgw/lib/roles.rego');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('input.principal.purpose_of_use');
    writeFileSync(file, text.replaceAll('input.principal.purpose_of_use', 'input.principal.purpose_of_uses'));
    return dir;
  }

  test('a library rule reading an input field the contract does not have fails policy build', async () => {
    const out = path.join(tmp, 'misspelt.tar.gz');
    expect((await run('build', '--dir', misspelt('misspelt-build'), '--out', out)).code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });

  test('and fails policy test', async () => {
    expect((await run('test', '--dir', misspelt('misspelt-test'))).code).toBe(1);
  });
});

describe('policy test', () => {
  function tree(name: string, testBody: string): string {
    const dir = path.join(tmp, name);
    mkdirSync(path.join(dir, 'tests'), { recursive: true });
    writeFileSync(path.join(dir, 'tiny.rego'), 'package tiny\n\nallow := true\n');
    writeFileSync(path.join(dir, 'tests/tiny_test.rego'), `package tiny_test\n\nimport data.tiny\n\n${testBody}\n`);
    return dir;
  }

  test('passes a formatted, tested tree and reports its coverage', async () => {
    const result = await run('test', '--dir', tree('passing', 'test_allow if tiny.allow'));
    expect(result.code).toBe(0);
    expect(result.out).toContain('policy line coverage: 100.0%');
  });

  test('fails when a test fails', async () => {
    expect((await run('test', '--dir', tree('failing', 'test_deny if not tiny.allow'))).code).toBe(1);
  });

  test('fails on an unformatted file, printing the diff and the command that fixes it', async () => {
    const dir = tree('unformatted', 'test_allow if tiny.allow');
    writeFileSync(path.join(dir, 'tiny.rego'), 'package tiny\nallow   :=    true\n');
    const result = await run('test', '--dir', dir);
    expect(result.code).toBe(1);
    expect(result.err).toContain('1 file is not formatted: tiny.rego');
    expect(result.err).toMatch(/^-allow {3}:= {4}true$/m);
    expect(result.err).toMatch(/^\+allow := true$/m);
    expect(result.err).toContain(`fmt -w ${dir}`);
  });

  test('lists the lines no test reaches, per source file', async () => {
    const dir = tree('partial', 'test_allow if tiny.allow');
    writeFileSync(path.join(dir, 'tiny.rego'), 'package tiny\n\nallow := true\n\nextra := x if {\n\tx := 1\n}\n');
    const result = await run('test', '--dir', dir, '--coverage', '10');
    expect(result.code).toBe(0);
    expect(result.out).toContain('lines no test reaches:\n  tiny.rego: 5, 6\n');
  });
});

describe('policy eval', () => {
  function input(doc: unknown): string {
    const file = path.join(tmp, `input-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(doc));
    return file;
  }
  const patient = {
    resourceType: 'Patient', id: 'p1', name: [{ family: 'Doe', given: ['Jane'] }], birthDate: '1950-03-04',
    telecom: [{ system: 'phone', value: '+1-555-0100' }], address: [{ line: ['1 Main St'], postalCode: '02139', state: 'MA' }],
  };

  test('shows the decision, the obligations and the de-identified resource a researcher would receive', async () => {
    const file = input({ claims: { scope: 'user/*.rs', roles: ['researcher'], purpose_of_use: ['HRESCH'] }, request: 'GET /Patient?_id=p1', response: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: patient }] } });
    const result = await run('eval', '--input', file, '--json');
    expect(result.code).toBe(0);
    const json = JSON.parse(result.out);
    expect(json.request.allow).toBe(true);
    expect(json.response.resources[0].decision.obligations.redact).toEqual([{ path: '*', action: 'safe-harbor' }]);
    const released = JSON.stringify(json.response.released);
    for (const marker of ['Doe', 'Jane', '1950-03-04', '+1-555-0100', 'Main St', '02139', '"p1"']) expect(released).not.toContain(marker);
    expect(json.response.released.entry[0].resource.birthDate).toBe('1950');

    const text = await run('eval', '--input', file);
    expect(text.out).toMatch(/^request: allow \[scope\.ok\]/m);
    expect(text.out).toMatch(/Patient\/p1: allow \[scope\.ok redact\.role\]/);
    expect(text.out).toContain('"safe-harbor"');
  });

  test('shows a sensitive resource withheld from a clinician, and the consent that opens it to a named one', async () => {
    const hiv = { resourceType: 'Observation', id: 'o1', status: 'final', meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HIV' }] }, code: { text: 'x' }, subject: { reference: 'Patient/p1' } };
    const claims = { scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'], fhirUser: 'Practitioner/dr-1' };
    const refused = JSON.parse((await run('eval', '--input', input({ claims, request: 'GET /Observation/o1', response: hiv }), '--json')).out);
    expect(refused.response.status).toBe(404);
    expect(refused.response.released).toBeNull();
    expect(refused.response.resources[0].decision.reasons).toContain('label.sensitive');

    const consent = {
      resourceType: 'Consent', id: 'c1', status: 'active', patient: { reference: 'Patient/p1' },
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      provision: { type: 'permit', provision: [{ type: 'permit', actor: [{ reference: { reference: 'Practitioner/dr-1' } }] }] },
    };
    const opened = JSON.parse((await run('eval', '--input', input({ claims, request: 'GET /Observation/o1', response: hiv, consents: [consent] }), '--json')).out);
    expect(opened.response.status).toBe(200);
    expect(opened.response.released.id).toBe('o1');
  });

  test('a refused request shows its reasons and that nothing would be forwarded', async () => {
    const result = await run('eval', '--input', input({ claims: { scope: 'user/*.rs', roles: ['admin'] }, request: 'GET /Observation?code=x', response: patient }));
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^request: deny \[role\.type-not-permitted\]/m);
    expect(result.out).toContain('nothing is forwarded');
    expect(result.out).not.toContain('Doe');
  });

  const nurse = { claims: { scope: 'user/*.rs', roles: ['nurse'], purpose_of_use: ['TREAT'] }, request: 'GET /Observation/o1', now: '2026-11-23T10:00:00Z' };
  const billingObservation = { claims: { scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] }, request: 'GET /Observation/o1', now: '2026-11-23T10:00:00Z' };

  test('--show-input prints the exact input document the engine decided, and opa eval decides the same on it', async () => {
    const file = input(billingObservation);
    const result = JSON.parse((await run('eval', '--input', file, '--show-input', '--json')).out);
    expect(result.inputs).toHaveLength(1);
    const [{ entrypoint, input: doc }] = result.inputs;
    expect(entrypoint).toBe('fhirgw/request/decision');
    expect(doc.principal.roles).toEqual(['billing']);
    expect(doc.request).toMatchObject({ interaction: 'read', type: 'Observation', id: 'o1' });
    expect(doc.env.now).toBe('2026-11-23T10:00:00.000Z');
    // The document is the one to paste into opa eval: the shipped bundle decides it the same way.
    const docFile = path.join(tmp, 'shown-input.json');
    writeFileSync(docFile, JSON.stringify(doc));
    const { execFileSync } = await import('node:child_process');
    const opaResult = JSON.parse(execFileSync(process.env['FHIRGW_OPA']!, ['eval', '-b', SHIPPED, '-i', docFile, '--format', 'json', 'data.fhirgw.request.decision'], { encoding: 'utf8' }));
    expect({ obligations: {}, ...opaResult.result[0].expressions[0].value }).toEqual(result.request);
    const text = await run('eval', '--input', file, '--show-input');
    expect(text.out).toContain('input of fhirgw/request/decision (for opa eval -i input.json data.fhirgw.request.decision):');
  });

  test('--explain=full names the engine and the rule that produced each reason', async () => {
    const result = await run('eval', '--input', input(billingObservation), '--explain', 'full', '--json');
    expect(result.code).toBe(0);
    const json = JSON.parse(result.out);
    expect(json.request).toEqual({ allow: false, reasons: ['role.type-not-permitted'], obligations: {} });
    const [e] = json.explanations;
    expect(e.engine).toMatch(/^OPA \S+ interpreter \(opa eval --explain=full\) on the Rego sources of revision [0-9a-f]{16}; the gateway decides with the same policy compiled to WebAssembly$/);
    expect(e.revision).toBe(sourceRevision(path.join(ROOT, 'policies')));
    expect(e.agrees).toBe(true);
    const denyLine = readFileSync(path.join(ROOT, 'policies/fhirgw/request.rego'), 'utf8').split('\n').findIndex((l) => l === 'deny contains reasons.role_type_not_permitted if {') + 1;
    expect(denyLine).toBeGreaterThan(0);
    const catalogue = JSON.parse(readFileSync(path.join(ROOT, 'src/policy/reasons.json'), 'utf8'));
    const meaning = catalogue.groups.find((g: { codes: string[] }) => g.codes.includes('role.type-not-permitted')).meaning;
    expect(e.reasons).toEqual([
      { reason: 'role.type-not-permitted', meaning, rules: [{ rule: 'data.fhirgw.request.deny', location: `fhirgw/request.rego:${denyLine}`, source: 'deny contains reasons.role_type_not_permitted if {' }] },
    ]);
    expect(e.trace).toContain('Enter data.fhirgw.request.decision');
    expect(e.trace).not.toContain(tmp);

    const text = await run('eval', '--input', input(billingObservation), '--explain', 'full');
    expect(text.out).toContain(`role.type-not-permitted: data.fhirgw.request.deny at fhirgw/request.rego:${denyLine}`);
    expect(text.out).toContain('the interpreter reached the same decision');
  });

  test('--explain explains the per-resource decisions of an answer too', async () => {
    const obs = { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } };
    const json = JSON.parse((await run('eval', '--input', input({ ...nurse, response: obs }), '--explain', 'notes', '--json')).out);
    expect(json.explanations.map((e: { entrypoint: string }) => e.entrypoint)).toEqual(['fhirgw/request/decision', 'fhirgw/resources/decisions']);
    for (const e of json.explanations) {
      expect(e.agrees).toBe(true);
      expect(e.mode).toBe('notes');
    }
    expect(json.explanations[1].result).toEqual([json.response.resources[0].decision]);
  });

  test('--dir evaluates edited sources without a separate build, and --explain refuses sources that are not the bundle\'s', async () => {
    const dir = path.join(tmp, 'candidate');
    const encounter = { claims: { scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] }, request: 'GET /Encounter/e1' };
    expect(JSON.parse((await run('eval', '--input', input(encounter), '--json')).out).request.allow).toBe(true);
    const fromSources = await run('eval', '--input', input(encounter), '--dir', dir, '--explain', 'full', '--json');
    expect(fromSources.code).toBe(0);
    const json = JSON.parse(fromSources.out);
    expect(json.revision).toBe(sourceRevision(dir));
    expect(json.request.reasons).toEqual(['role.type-not-permitted']);
    expect(json.explanations[0].agrees).toBe(true);

    const mismatch = await run('eval', '--input', input(encounter), '--bundle', SHIPPED, '--dir', dir, '--explain', 'full');
    expect(mismatch.code).toBe(1);
    expect(mismatch.err).toContain(`the sources in ${dir} are revision ${sourceRevision(dir)}`);
    const noSources = await run('eval', '--input', input(encounter), '--bundle', candidate, '--explain', 'full');
    expect(noSources.code).toBe(2);
    expect(noSources.err).toContain('pass them with --dir');
    expect((await run('eval', '--input', input(encounter), '--explain', 'everything')).code).toBe(2);
  });

  test('bad input is a clear error (exit 2), not a decision', async () => {
    const noRequest = await run('eval', '--input', input({ claims: {} }));
    expect(noRequest.code).toBe(2);
    expect(noRequest.err).toContain('request');
    const badLine = await run('eval', '--input', input({ claims: {}, request: 'fetch everything' }));
    expect(badLine.code).toBe(2);
    expect(badLine.err).toContain('METHOD /path');
    const refusedBeforePolicy = await run('eval', '--input', input({ claims: {}, request: 'GET /observation/1' }));
    expect(refusedBeforePolicy.code).toBe(2);
    expect(refusedBeforePolicy.err).toContain('path.type-case');
    expect((await run('eval')).code).toBe(2);
    expect((await run('eval', '--input', path.join(tmp, 'missing.json'))).err).toContain('cannot read');
  });
});

describe('policy diff --replay', () => {
  let stack: Stack;
  let trail: string;

  beforeAll(async () => {
    stack = await startStack();
    const mint = (claims: Record<string, unknown>, scope = 'user/*.rs') => stack.issuer.mint({ sub: 'user-1', scope, ...claims });
    const billing = await mint({ sub: 'biller-1', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    const clinician = await mint({ sub: 'dr-1', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    expect((await stack.fetch('Encounter/enc-pat-alba', { token: billing })).status).toBe(200);
    expect((await stack.fetch('Encounter?subject=Patient/pat-bruno', { token: billing })).status).toBe(200);
    expect((await stack.fetch('Patient/pat-alba', { token: billing })).status).toBe(200);
    expect((await stack.fetch('Encounter/enc-pat-chen', { token: clinician })).status).toBe(200);
    expect((await stack.fetch('Observation/obs-pat-alba-0', { token: billing })).status).toBe(403);
    expect((await stack.fetch('Patient/pat-alba')).status).toBe(401);
    const nurse = await mint({ sub: 'rn-1', roles: ['nurse'], purpose_of_use: ['TREAT'] }, 'user/*.cruds');
    const created = await stack.fetch('Observation', { method: 'POST', token: nurse, headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 't' }, subject: { reference: 'Patient/pat-alba' } }) });
    expect(created.status).toBe(201);
    await waitForAudit(stack, 7);
    trail = stack.auditFile;
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  test('lists exactly the recorded requests whose decision the candidate changes, and exits 1', async () => {
    const result = await run('diff', '--against', candidate, '--replay', trail, '--json');
    expect(result.code).toBe(1);
    const report = JSON.parse(result.out);
    expect(report.read).toBe(7);
    expect(report.replayed).toBe(5);
    expect(report.skipped).toEqual({ 'no-principal': 1, 'write-body-not-recorded': 1 });
    expect(report.changes.map((c: { request: string }) => c.request).sort()).toEqual(['GET /Encounter/enc-pat-alba', 'GET /Encounter?subject=***']);
    for (const change of report.changes) {
      expect(change.before.allow).toBe(true);
      expect(change.after).toEqual({ allow: false, reasons: ['role.type-not-permitted'], obligations: {} });
      expect(change.who).toBe('biller-1 roles billing');
    }
    const text = await run('diff', '--against', candidate, '--replay', trail);
    expect(text.out).toContain('2 decisions change:');
    expect(text.out).toContain('replayed 5 of 7 records (skipped 1 no-principal, 1 write-body-not-recorded)');
  });

  test('reads the same trail in OPA decision-log form', async () => {
    const events = stack.auditRecords().map((r) => JSON.stringify(toDecisionLog(r, 'test')));
    const file = path.join(tmp, 'decision-log.jsonl');
    writeFileSync(file, `${events.join('\n')}\n`);
    const report = JSON.parse((await run('diff', '--against', candidate, '--replay', file, '--json')).out);
    expect(report.replayed).toBe(5);
    expect(report.changes).toHaveLength(2);
  });

  test('the same bundle changes nothing (exit 0)', async () => {
    const result = await run('diff', '--against', SHIPPED, '--replay', trail);
    expect(result.code).toBe(0);
    expect(result.out).toContain('no decision changes');
  });
});
