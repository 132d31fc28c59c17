/**
 * What the sinks write, through every sink type and format at once: the sealed record, the OPA
 * decision-log event and the FHIR AuditEvent (BALP), checked against the published JSON Schemas,
 * against FHIR R4 (Medplum's validator), against the BALP constraints we claim, and POSTed to a
 * real FHIR server acting as the audit repository. Then every byte any sink wrote is searched for
 * patient data and tokens.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { auditEventSchema, BALP, type AuditEvent } from '../../../src/audit/formats/audit-event.js';
import type { DecisionLogEvent } from '../../../src/audit/formats/decision-log.js';
import type { RequestRecord } from '../../../src/audit/record.js';
import { startFhirServer, type RunningFhirServer } from '../../../src/devkit/fhir-server.js';
import { SYNTHETIC_PATIENTS } from '../../../src/devkit/synthetic-data.js';
import { startReceiver, writeKeyFile, type Receiver } from '../../support/audit.js';
import { assertValid, parseRecords, requestsOnly } from '../../support/schemas.js';
import { startStack, tokensFor, type Stack } from '../../support/stack.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [(typeof SYNTHETIC_PATIENTS)[0], (typeof SYNTHETIC_PATIENTS)[0]];
let dir: string;
let repo: RunningFhirServer;
let receiver: Receiver;
let stack: Stack;
const stdout = new PassThrough();
let stdoutText = '';
stdout.on('data', (c: Buffer) => (stdoutText += c.toString()));
const tokens: string[] = [];
/** What each request was, by request id. */
const sent = new Map<string, { label: string; status: number }>();

let records: RequestRecord[];
let events: AuditEvent[];
let decisions: DecisionLogEvent[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-formats-'));
  repo = await startFhirServer();
  receiver = await startReceiver();
  stack = await startStack({
    start: { auditStdout: stdout },
    config: (d) => ({
      ...d,
      audit: {
        sinks: [
          ...(d.audit?.sinks ?? []),
          { type: 'file', name: 'decisions', path: path.join(dir, 'decisions.jsonl'), format: 'decision-log' },
          { type: 'file', name: 'events', path: path.join(dir, 'events.jsonl'), format: 'audit-event' },
          { type: 'stdout', name: 'stdout' },
          { type: 'http', name: 'siem', url: receiver.url, format: 'decision-log' },
          { type: 'fhir', name: 'repository', url: repo.baseUrl },
        ],
        spool: { dir: path.join(dir, 'spool'), durability: 'durable' },
        hmacKeyFile: writeKeyFile(dir),
      },
    }),
  });
  const t = tokensFor(stack.issuer);
  const clinician = await t.clinician('user/*.cruds');
  const patient = await t.patient(alba.id);
  const researcher = await t.researcher();
  tokens.push(clinician, patient, researcher);
  const json = { 'content-type': 'application/fhir+json' };
  const calls: Array<[string, string, RequestInit & { token?: string }]> = [
    ['read', `Patient/${alba.id}`, { token: clinician }],
    ['search-by-name', `Patient?family=${encodeURIComponent(alba.family)}&_count=10`, { token: clinician }],
    ['search-by-mrn', `Patient?identifier=${encodeURIComponent(alba.mrn)}`, { token: clinician }],
    ['patient-search', `Observation?code=${encodeURIComponent(bruno.phone)}`, { token: patient }],
    ['create', 'Observation', { token: clinician, method: 'POST', headers: json, body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: alba.given }, subject: { reference: `Patient/${alba.id}` } }) }],
    ['update', `Patient/${alba.id}`, { token: clinician, method: 'PUT', headers: json, body: JSON.stringify({ resourceType: 'Patient', id: alba.id, name: [{ family: alba.family, given: [alba.given] }], birthDate: alba.birthDate }) }],
    ['delete', `Observation/obs-${bruno.id}-0`, { token: clinician, method: 'DELETE' }],
    ['denied', `Patient/${bruno.id}`, { token: patient }],
    ['researcher', 'Patient', { token: researcher }],
    ['no-token', `Patient/${alba.id}`, {}],
  ];
  for (const [label, p, init] of calls) {
    const res = await stack.fetch(p, init);
    await res.text();
    sent.set(res.headers.get('x-request-id') ?? '', { label, status: res.status });
  }
  // Closing drains every sink (delivery.closeTimeoutMs) before it returns.
  await stack.gateway.close();

  records = requestsOnly(parseRecords(readFileSync(stack.auditFile, 'utf8')));
  events = readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEvent);
  decisions = readFileSync(path.join(dir, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DecisionLogEvent);
}, 60000);

afterAll(async () => {
  await stack.close();
  await repo.close();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

const recordOf = (label: string) => records.find((r) => sent.get(r.requestId)?.label === label)!;
const eventOf = (label: string) => events.find((e) => e.entity.some((x) => x.what?.identifier?.value === recordOf(label).requestId))!;

describe('audit formats', () => {
  test('every request has exactly one record in every sink', () => {
    expect(sent.size).toBe(10);
    expect(new Set(records.map((r) => r.requestId))).toEqual(new Set(sent.keys()));
    expect(events).toHaveLength(10);
    expect(decisions).toHaveLength(10);
    expect(requestsOnly(parseRecords(stdoutText))).toHaveLength(10);
    expect(receiver.received).toHaveLength(10);
    expect(recordOf('read').outcome.status).toBe(200);
    for (const label of ['create', 'update', 'delete']) expect(sent.get(recordOf(label).requestId)?.status).toBeLessThan(300);
  });

  test('AuditEvents are valid FHIR R4, match the published schema and the BALP constraints of the profile they claim', () => {
    for (const event of events) {
      expect(validateResource(event as unknown as Resource)).toEqual([]);
      assertValid('audit-event.schema.json', event);
      expect(auditEventSchema.safeParse(event).error?.issues ?? []).toEqual([]);
    }
    const profileOf = (label: string) => eventOf(label).meta?.profile[0]?.slice(BALP.length) ?? null;
    expect(profileOf('read')).toBe('PatientRead');
    expect(profileOf('search-by-name')).toBe('Query');
    expect(profileOf('patient-search')).toBe('PatientQuery');
    expect(profileOf('create')).toBe('Create');
    expect(profileOf('update')).toBe('PatientUpdate');
    expect(profileOf('delete')).toBe('Delete');
    expect(profileOf('denied')).toBeNull(); // BALP profiles describe successes; the denial is a plain AuditEvent
    expect(eventOf('denied').outcome).toBe('4');
    expect(eventOf('create').action).toBe('C');
    expect(eventOf('delete').action).toBe('D');
  });

  test('the BALP constraints are really checked: a missing patient, a wrong action or agent role, or a client without its address is rejected', () => {
    const read = eventOf('read');
    const ok = auditEventSchema.safeParse(read).success;
    expect(ok).toBe(true);
    expect(auditEventSchema.safeParse({ ...read, entity: read.entity.filter((e) => e.role?.code !== '1') }).success).toBe(false);
    expect(auditEventSchema.safeParse({ ...read, action: 'C' }).success).toBe(false);
    // A read's client is the Destination Role ID (the data flows to it); the Source code is wrong here.
    const swapped = read.agent.map((a) => (a.type.coding[0]?.code === '110152' ? { ...a, type: { coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110153' }] } } : a));
    expect(auditEventSchema.safeParse({ ...read, agent: swapped }).success).toBe(false);
    const { network: _omitted, ...clientWithoutAddress } = read.agent[0]!;
    expect(auditEventSchema.safeParse({ ...read, agent: [clientWithoutAddress, ...read.agent.slice(1)] }).success).toBe(false);
  });

  test('agent roles follow the BALP profile: read, search, create and delete', () => {
    const codes = (label: string) => eventOf(label).agent.map((a) => a.type.coding[0]!.code);
    expect(codes('read')).toEqual(['110152', '110153', 'IRCP']); // client Destination, server Source, user recipient
    expect(codes('search-by-name')).toEqual(['110153', '110152', 'IRCP']); // the query flows to the server
    expect(codes('create')).toEqual(['110153', '110152', 'AUT']);
    expect(codes('update')).toEqual(['110153', '110152', 'AUT']);
    expect(codes('delete')).toEqual(['110150', 'custodian', 'AUT']);
    expect(eventOf('delete').agent[2]!.policy).toBeUndefined(); // BALP Delete: no policy on the user
  });

  test('a query entity carries the request line with its search values masked', () => {
    const query = eventOf('search-by-name').entity.find((e) => e.role?.code === '24')!;
    expect(Buffer.from(query.query!, 'base64').toString('utf8')).toBe('GET Patient?family=***&_count=10');
  });

  test('the audit repository holds every AuditEvent under its derived id (PUT, so a replay cannot duplicate it)', async () => {
    for (const event of events) {
      const res = await fetch(`${repo.baseUrl}/AuditEvent/${event.id}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ resourceType: 'AuditEvent', id: event.id, recorded: event.recorded, outcome: event.outcome });
    }
  });

  test('decision-log events match the schema, carry the record ids and list masked values as erased', () => {
    for (const d of decisions) assertValid('audit-decision-log.schema.json', d);
    const record = recordOf('search-by-mrn');
    const d = decisions.find((x) => x.decision_id === record.decisionId)!;
    expect(d).toMatchObject({ path: 'fhirgw/request', req_id: record.chain.seq, requested_by: record.client.address, bundles: { fhirgw: { revision: record.policyRevision } }, labels: { id: record.chain.instance, app: 'fhir-privacy-gateway' } });
    expect(d.input.request?.params).toEqual([['identifier', null, null]]);
    expect(d.erased).toEqual(['/input/request/params/0/2']);
    expect(d.result).toMatchObject({ allow: true, status: 200 });
    expect(receiver.received.map((x) => (x as unknown as DecisionLogEvent).decision_id).sort()).toEqual(decisions.map((x) => x.decision_id).sort());
  });

  test('records keep what was withheld and redacted as counts and references only', () => {
    const researcher = recordOf('researcher');
    expect(researcher.entries).toMatchObject({ returned: 3, redacted: 3 });
    expect(researcher.entries!.redactedRefs.sort()).toEqual(SYNTHETIC_PATIENTS.map((p) => `Patient/${p.id}`).sort());
    // In the AuditEvent they are typed with the gateway's codes, outside BALP's data and query slices.
    const redacted = eventOf('researcher').entity.filter((e) => e.type?.code === 'redacted');
    expect(redacted.map((e) => e.what?.reference).sort()).toEqual(researcher.entries!.redactedRefs.sort());
    expect(redacted.every((e) => e.type?.system === 'https://fhir-privacy-gateway.dev/CodeSystem/audit')).toBe(true);
    expect(recordOf('search-by-name').request!.params).toEqual([
      { name: 'family', modifier: null, value: null, mask: 'removed' },
      { name: '_count', modifier: null, value: '10', mask: 'kept' },
    ]);
  });

  test('no sink output contains a patient name, MRN, phone, birth date, resource content or token', async () => {
    const repoText = await (await fetch(`${repo.baseUrl}/AuditEvent?_count=100`)).text();
    const outputs: Record<string, string> = {
      file: readFileSync(stack.auditFile, 'utf8'),
      decisions: readFileSync(path.join(dir, 'decisions.jsonl'), 'utf8'),
      events: readFileSync(path.join(dir, 'events.jsonl'), 'utf8'),
      stdout: stdoutText,
      siem: receiver.raw.join('\n'),
      repository: repoText,
    };
    // The query entity is base64: search its decoded form too.
    outputs['events-decoded'] = events.flatMap((e) => e.entity.map((x) => (x.query ? Buffer.from(x.query, 'base64').toString('utf8') : ''))).join('\n');
    for (const [sink, text] of Object.entries(outputs)) {
      expect(text.length).toBeGreaterThan(0);
      for (const p of SYNTHETIC_PATIENTS) for (const marker of [p.family, p.given, p.mrn, p.phone, p.birthDate]) expect({ sink, found: text.includes(marker) ? marker : null }).toEqual({ sink, found: null });
      for (const token of tokens) expect(text.includes(token.split('.')[2]!)).toBe(false);
      expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    }
  });
});
