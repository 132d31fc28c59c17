/**
 * A break-the-glass case through its whole lifecycle in a running gateway (real Redis, real
 * PostgreSQL, the real FHIR engine, real signed tokens): a clinician opens an HIV-labelled result
 * with break-the-glass (after a multi-factor login, as policy requires); the detector (consumer of the redis sink's stream) opens a case in the
 * audit store naming who, which patient, the stated reason and what was released; the webhook gets
 * a signed `case.opened` event; `fhir-gateway review close` closes it as justified with a note, a
 * transition record of its own, and `audit verify` finds the store's chains intact; the metrics
 * count the flag and the open case, then none. The same questions through the admin API: only a
 * privacy officer's token gets answers (breach scope, cases), every other principal the same 403
 * whatever it asks, and each answer is recorded. `audit breach-scope --revoke` revokes the subject
 * through the revocation list: its tokens are refused afterwards.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { postgresClient, type SqlClient } from '../../../src/audit/store/sql.js';
import type { ReviewCase } from '../../../src/cases/case.js';
import { createSqlCaseStore } from '../../../src/cases/sql-store.js';
import { TEST_KEY } from '../../support/audit.js';
import { metricSum, scrape } from '../../support/metrics.js';
import { startPostgresServer, type PostgresServer } from '../../support/postgres.js';
import { startRedisServer, type RedisServer } from '../../support/redis.js';
import { startStack, type Stack } from '../../support/stack.js';
import { eventually } from '../../support/wait.js';

const run = promisify(execFile);
const SECRET = 'webhook-secret-0123456789abcdefghijkl';
const ADMIN_TOKEN = 'admin-token-for-the-revocation-endpoint-0123';
let redis: RedisServer;
let pg: PostgresServer;
let stack: Stack;
let db: SqlClient;
let hook: http.Server;
const events: Array<{ body: string; signature: string }> = [];

beforeAll(async () => {
  [redis, pg] = await Promise.all([startRedisServer(), startPostgresServer()]);
  hook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      events.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-fhirgw-signature']) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/privacy`;
  stack = await startStack({
    env: { FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8'), WEBHOOK_SECRET: SECRET, FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN },
    config: (d) => ({
      ...d,
      redis: { url: redis.url },
      audit: {
        sinks: [
          { type: 'redis', name: 'stream', stream: 'fhirgw:audit', format: 'record' },
          { type: 'postgres', name: 'store', url: pg.url },
          { type: 'webhook', name: 'privacy-office', url: hookUrl, secretEnv: 'WEBHOOK_SECRET' },
        ],
      },
      detect: { signals: [], consumer: 'replica-1' },
    }),
  });
  await stack.fhir.repo.updateResource({
    resourceType: 'Observation',
    id: 'obs-hiv-label',
    status: 'final',
    meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HIV' }, { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
    code: { text: 'Viral load' },
    subject: { reference: 'Patient/pat-alba' },
  } as Resource);
  db = postgresClient({ url: pg.url, poolSize: 1 });
}, 90_000);

afterAll(async () => {
  await db?.close();
  await stack?.close();
  await new Promise<void>((r) => hook.close(() => r()));
  await Promise.all([redis?.stop(), pg?.stop()]);
});

describe('break-the-glass review', () => {
  test('opened by the detector, pushed to the webhook, closed by the review CLI with a verified transition record', async () => {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', fhirUser: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['BTG'], break_glass_reason: 'Unconscious patient in the ED', amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) });
    expect((await stack.fetch('Observation/obs-hiv-label', { token })).status).toBe(200);

    const cases = createSqlCaseStore({ db, transitions: { instance: 'review', key: TEST_KEY, policyRevision: 'test' } });
    const [opened] = (await eventually(() => cases.list({ kind: 'break-glass' }), (l) => l.length === 1, 'the break-the-glass case', 20_000)) as [ReviewCase];
    expect(opened).toMatchObject({
      status: 'open',
      patient: 'pat-alba',
      statedReason: 'Unconscious patient in the ED',
      user: { sub: 'Practitioner/prac-hopper', fhirUser: 'Practitioner/prac-hopper' },
      released: [{ type: 'Observation', count: 1 }],
    });
    const origin = new URL(stack.base).origin;
    // The case is stored while the record is judged, and the flag is counted once judging returns:
    // wait for the count rather than read it the moment the case appears.
    const flagged = await eventually(async () => metricSum(await scrape(origin), 'fhirgw_detector_flags_total', { signal: 'break-glass' }), (n) => n >= 1, 'the break-glass flag', 20_000);
    expect(flagged).toBe(1);
    expect(metricSum(await scrape(origin), 'fhirgw_review_cases_open')).toBe(1);

    await eventually(async () => events.length, (n) => n >= 1, 'the webhook event', 20_000);
    const { body, signature } = events[0]!;
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature) ?? [];
    expect(v1).toBe(createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex'));
    expect(JSON.parse(body)).toMatchObject({ events: [{ type: 'case.opened', case: { id: opened.id, kind: 'break-glass', signals: ['break-glass'], status: 'open' } }] });

    const env = { ...process.env, FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8') };
    const listed = await run(process.execPath, ['dist/cli.js', 'review', 'list', '--store', pg.url, '--status', 'open'], { env });
    expect(listed.stdout).toContain(opened.id);
    const closed = await run(process.execPath, ['dist/cli.js', 'review', 'close', opened.id, '--store', pg.url, '--status', 'justified', '--reviewer', 'privacy-1', '--note', 'ED admission confirmed'], { env });
    expect(JSON.parse(closed.stdout)).toMatchObject({ status: 'justified', transitions: [{ from: 'open', to: 'justified', reviewer: 'fhir-gateway:review|privacy-1', note: 'ED admission confirmed' }] });
    const again = await run(process.execPath, ['dist/cli.js', 'review', 'close', opened.id, '--store', pg.url, '--status', 'unjustified', '--reviewer', 'privacy-2', '--note', 'no'], { env }).catch((err: { code: number; stderr: string }) => err);
    expect(again).toMatchObject({ code: 2 });
    expect(metricSum(await scrape(origin), 'fhirgw_review_cases_open')).toBe(0);

    const [transition] = await db.query<{ record: { request: { id: string }; outcome: { reasons: string[] } } }>(`SELECT record FROM audit_records WHERE instance = 'review'`);
    expect(transition?.record).toMatchObject({ request: { id: opened.id }, outcome: { reasons: ['review.justified'] } });
    const verified = await run(process.execPath, ['dist/cli.js', 'audit', 'verify', pg.url], { env });
    expect(verified.stdout).toContain('OK: the chain is intact');
  }, 90_000);

  test('admin API: breach scope, cases and closing them for the privacy office only, the same refusal for anyone else, each answer recorded', async () => {
    const origin = new URL(stack.base).origin;
    const officer = await stack.issuer.mint({ sub: 'privacy-1', scope: 'user/*.rs', roles: ['privacy-officer'], fhirUser: 'Practitioner/privacy-1' });
    const clinician = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', fhirUser: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    const day = new Date().toISOString().slice(0, 10);
    const scopeUrl = `${origin}/admin/privacy/breach-scope?subject=${encodeURIComponent(`${stack.issuer.issuer} Practitioner/prac-hopper`)}&from=${day}&to=${day}`;
    const asOfficer = await fetch(scopeUrl, { headers: { authorization: `Bearer ${officer}` } });
    expect(asOfficer.status).toBe(200);
    const scope = (await asOfficer.json()) as { patients: Array<{ patient: string; released: Array<{ type: string; count: number }> }>; chain: { ok: boolean } };
    expect(scope.patients.find((p) => p.patient === 'pat-alba')?.released).toEqual(expect.arrayContaining([{ type: 'Observation', count: 1 }]));
    expect(scope.chain.ok).toBe(true);
    const cases = (await (await fetch(`${origin}/admin/privacy/cases?kind=break-glass`, { headers: { authorization: `Bearer ${officer}` } })).json()) as { cases: Array<{ patient: string }> };
    expect(cases.cases.map((c) => c.patient)).toEqual(['pat-alba']);
    expect((await fetch(`${origin}/admin/privacy/cases?status=bogus`, { headers: { authorization: `Bearer ${officer}` } })).status).toBe(400);

    const refusals = await Promise.all([scopeUrl, `${origin}/admin/privacy/cases`, `${origin}/admin/privacy/cases/00000000-0000-4000-8000-000000000000`, `${origin}/admin/privacy/no-such-thing`].map((u) => fetch(u, { headers: { authorization: `Bearer ${clinician}` } })));
    const bodies = await Promise.all(refusals.map(async (r) => ({ status: r.status, issue: ((await r.json()) as { issue: Array<{ code: string; details?: unknown }> }).issue.map((i) => [i.code, i.details]) })));
    expect(bodies.every((b) => b.status === 403)).toBe(true);
    expect(new Set(bodies.map((b) => JSON.stringify(b.issue))).size).toBe(1);
    expect((await fetch(scopeUrl)).status).toBe(401);

    // A second break-the-glass access, closed through the API by the officer; closing again is 412.
    const btg = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', fhirUser: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['BTG'], break_glass_reason: 'Sepsis alert', amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) });
    expect((await stack.fetch('Observation/obs-hiv-label', { token: btg })).status).toBe(200);
    const store = createSqlCaseStore({ db, transitions: { instance: 'review', key: TEST_KEY, policyRevision: 'test' } });
    const [second] = (await eventually(() => store.list({ kind: 'break-glass', status: 'open' }), (l) => l.length === 1, 'the second case', 20_000)) as [ReviewCase];
    expect(second.statedReason).toBe('Sepsis alert');
    const close = (token: string) => fetch(`${origin}/admin/privacy/cases/${second.id}/close`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ status: 'unjustified', note: 'no sepsis on the chart' }) });
    expect((await close(clinician)).status).toBe(403);
    const closedByApi = await close(officer);
    expect(closedByApi.status).toBe(200);
    expect(await closedByApi.json()).toMatchObject({ status: 'unjustified', transitions: [{ reviewer: `${stack.issuer.issuer}|privacy-1`, note: 'no sepsis on the chart' }] });
    expect((await close(officer)).status).toBe(412);

    await eventually(
      () => db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_records WHERE record->'request'->>'operation' IN ('breach-scope', 'review-list') AND sub = 'privacy-1'`),
      (rows) => Number(rows[0]?.n) === 2,
      'the two answers recorded',
      20_000,
    );
  }, 60_000);

  test('breach-scope --revoke: the subject is revoked through the revocation list, its token refused from then on', async () => {
    const token = await stack.issuer.mint({ sub: 'leaky-user', fhirUser: 'Practitioner/leaky-user', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(200);
    const day = new Date().toISOString().slice(0, 10);
    const env = { ...process.env, FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8'), FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN };
    const args = ['dist/cli.js', 'audit', 'breach-scope', '--store', pg.url, '--subject', `${stack.issuer.issuer} leaky-user`, '--from', day, '--to', day];
    await eventually(async () => JSON.parse((await run(process.execPath, args, { env })).stdout) as { totals: { records: number } }, (s) => s.totals.records >= 1, 'the record in the store', 20_000);
    const revoked = await run(process.execPath, [...args, '--revoke', '--gateway', new URL(stack.base).origin], { env });
    expect(revoked.stderr).toContain('revoked: subject');
    expect((JSON.parse(revoked.stdout) as { patients: Array<{ patient: string }> }).patients.map((p) => p.patient)).toEqual(['pat-alba']);
    const after = await stack.fetch('Patient/pat-alba', { token });
    expect(after.status).toBe(401);
    // An address is not a credential: refused, not pretended.
    const address = await run(process.execPath, ['dist/cli.js', 'audit', 'breach-scope', '--store', pg.url, '--address', '127.0.0.1', '--from', day, '--to', day, '--revoke', '--gateway', new URL(stack.base).origin], { env }).catch((err: { code: number; stderr: string }) => err);
    expect(address).toMatchObject({ code: 2 });
  }, 60_000);

  test('breach-scope --client --revoke: every token issued to the client is refused from then on, whoever the user; another client\'s is not', async () => {
    const mint = (sub: string, clientId: string) => stack.issuer.mint({ sub, client_id: clientId, fhirUser: `Practitioner/${sub}`, scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    const [first, second, other] = await Promise.all([mint('user-a', 'leaky-app'), mint('user-b', 'leaky-app'), mint('user-a', 'good-app')]);
    for (const token of [first, second, other]) expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(200);
    const day = new Date().toISOString().slice(0, 10);
    const env = { ...process.env, FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8'), FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN };
    const args = ['dist/cli.js', 'audit', 'breach-scope', '--store', pg.url, '--client', 'leaky-app', '--from', day, '--to', day];
    await eventually(async () => JSON.parse((await run(process.execPath, args, { env })).stdout) as { totals: { records: number } }, (s) => s.totals.records >= 2, 'the records in the store', 20_000);
    const revoked = await run(process.execPath, [...args, '--revoke', '--iss', stack.issuer.issuer, '--gateway', new URL(stack.base).origin], { env });
    expect(revoked.stderr).toContain('revoked: client');
    expect((await stack.fetch('Patient/pat-alba', { token: first })).status).toBe(401);
    const refused = await stack.fetch('Patient/pat-alba', { token: second });
    expect(refused.status).toBe(401);
    expect(JSON.stringify(await refused.json())).toContain('token.client-revoked');
    expect((await stack.fetch('Patient/pat-alba', { token: other })).status).toBe(200);
  }, 60_000);
});
