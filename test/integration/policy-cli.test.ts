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

  test('fails on an unformatted file', async () => {
    const dir = tree('unformatted', 'test_allow if tiny.allow');
    writeFileSync(path.join(dir, 'tiny.rego'), 'package tiny\nallow   :=    true\n');
    expect((await run('test', '--dir', dir)).code).toBe(1);
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
