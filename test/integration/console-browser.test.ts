/**
 * The console in a real browser: Debian's Chromium driven by playwright-core (no downloaded
 * browser), the built front end (npm run build) served by the console listener of a real gateway,
 * sign-in through a real OpenID Connect provider, traffic through the gateway in front of Medplum's
 * FHIR engine. Each page is checked with axe-core and saved as a screenshot under
 * .tmp/console-screenshots/. The CSP is the real one: the page must work without a violation.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../src/devkit/ports.js';
import { CONSOLE_ASSETS } from '../../src/console/server.js';
import { ensureOpa } from '../../scripts/lib/opa.mjs';
import { startConsoleIdp, type ConsoleIdp } from '../support/console-idp.js';
import { breakGlassClaims, RESTRICTED_OBSERVATION, startConsoleStack, type ConsoleStack } from '../support/console-stack.js';
import { pdfText } from '../support/pdf-text.js';
import type { Stack } from '../support/stack.js';
import { eventually, metric } from '../support/wait.js';

const SHOTS = path.resolve(import.meta.dirname, '../../.tmp/console-screenshots');
let stack: Stack;
let idp: ConsoleIdp;
let browser: Browser;
let consoleUrl: string;
let storeDir: string;
let running: ConsoleStack;

beforeAll(async () => {
  if (!existsSync(path.join(CONSOLE_ASSETS, 'index.html'))) throw new Error('the console front end is not built: run npm run build first');
  process.env['FHIRGW_OPA'] = ensureOpa();
  mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  idp = await startConsoleIdp({ redirectUris: [`http://127.0.0.1:${port}/callback`] });
  running = await startConsoleStack(port, idp);
  ({ stack, consoleUrl, dir: storeDir } = running);
  // Real traffic for the overview: allowed and denied requests through the gateway.
  const biller = await stack.issuer.mint({ sub: 'biller-1', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
  const clinician = await stack.issuer.mint({ sub: 'dr-1', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
  expect((await stack.fetch('Observation/obs-pat-alba-0', { token: biller })).status).toBe(403);
  expect((await stack.fetch('Encounter/enc-pat-alba', { token: biller })).status).toBe(200);
  expect((await stack.fetch('Patient/pat-alba', { token: clinician })).status).toBe(200);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await running?.close();
  await idp?.close();
  delete process.env['FHIRGW_OPA'];
});

async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => (window as unknown as { axe: typeof axe }).axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }));
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

async function signedInPage(user: { sub: string; name: string; roles: string[] }): Promise<{ page: Page; cspViolations: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  idp.signInAs(user);
  await page.goto(consoleUrl);
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  return { page, cspViolations };
}

test('a privacy officer signs in through the IdP and sees the overview as charts of real traffic', async () => {
  const { page, cspViolations } = await signedInPage({ sub: 'po-1', name: 'Pat Officer', roles: ['privacy-officer'] });
  expect(await page.getByText('Pat Officer (privacy-officer)').count()).toBe(1);
  await page.getByRole('heading', { name: 'Top reasons' }).waitFor();
  const reasons = await page.getByRole('img', { name: /^Top reasons:/ }).getAttribute('aria-label');
  expect(reasons).toContain('role.type-not-permitted 1');
  expect(await page.getByRole('img', { name: /minutes; at most/ }).count()).toBe(1);
  // A policy author's page is not offered to a privacy officer.
  expect(await page.getByRole('link', { name: 'Policy playground' }).count()).toBe(0);
  // The time-range picker reloads the charts.
  const reloaded = page.waitForResponse((r) => r.url().endsWith('/api/overview?minutes=15') && r.status() === 200);
  await page.getByLabel('Time range').selectOption('15');
  await reloaded;
  await page.getByRole('heading', { name: 'Top reasons' }).waitFor();
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'overview.png'), fullPage: true });
  expect(cspViolations).toEqual([]);
  await page.context().close();
}, 30_000);

test('a policy author reaches the playground by keyboard and sees decision, explanation and exact input', async () => {
  const { page, cspViolations } = await signedInPage({ sub: 'pa-1', name: 'Paula Author', roles: ['policy-author'] });
  // Keyboard only: focus the page link and follow it with Enter.
  await page.getByRole('link', { name: 'Policy playground' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Policy playground' }).waitFor();
  await page.getByRole('button', { name: 'Evaluate with the active bundle' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: /^Decision \(bundle active, revision [0-9a-f]{16}\)$/ }).waitFor();
  expect(await page.getByRole('heading', { name: 'Request: denied' }).count()).toBe(1);
  expect(await page.getByText('The request is refused: nothing is forwarded, so no answer is released.').count()).toBe(1);
  expect(await page.getByRole('heading', { name: 'Released resource against the input' }).count()).toBe(0);
  expect(await page.locator('.explanation .engine').first().textContent()).toMatch(/OPA \S+ interpreter \(opa eval --explain=full\)/);
  expect(await page.locator('.explanation').first().textContent()).toContain('data.fhirgw.request.deny');
  expect(await page.getByLabel('input of fhirgw/request/decision').textContent()).toContain('"billing"');
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'playground.png'), fullPage: true });

  // An allowed read with an answer: the released resource is shown against the input.
  const allowed = JSON.stringify({
    claims: { sub: 'dr-1', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] },
    request: 'GET /Patient/p1',
    response: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Doe' }] },
  });
  await page.getByLabel(/^Case:/).fill(allowed);
  await page.getByRole('button', { name: 'Evaluate with the active bundle' }).click();
  await page.getByRole('heading', { name: 'Request: allowed' }).waitFor();
  await page.getByRole('heading', { name: 'Released resource against the input' }).waitFor();
  expect(await page.getByRole('heading', { name: 'Answer: HTTP 200' }).count()).toBe(1);
  expect(cspViolations).toEqual([]);
  await page.context().close();
}, 30_000);

test('filtering decisions, opening a record with its chain verified, then the same request in the playground', async () => {
  const { page, cspViolations } = await signedInPage({ sub: 'po-2', name: 'Omar Officer', roles: ['privacy-officer', 'policy-author'] });
  await page.getByRole('link', { name: 'Decisions' }).click();
  await page.getByRole('heading', { level: 1, name: 'Decisions' }).waitFor();
  await page.getByLabel('User').fill('biller-1');
  await page.getByLabel('Decision').selectOption('deny');
  await page.getByRole('button', { name: 'Search decisions' }).click();
  await page.getByText('1 record, newest first').waitFor();
  expect(await page.locator('table.records tbody tr').first().textContent()).toContain('role.type-not-permitted');
  await page.getByRole('button', { name: /^Open record of/ }).click();
  await page.getByRole('heading', { name: 'Chain verification' }).waitFor();
  expect(await page.locator('.detail p.allow').textContent()).toMatch(/MAC is valid; instance \S+ \(record \d+\): chain intact over \d+ records/);
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'decisions.png'), fullPage: true });
  await page.getByRole('link', { name: 'Open this request in the playground' }).click();
  await page.getByRole('heading', { level: 1, name: 'Policy playground' }).waitFor();
  expect(await page.getByLabel(/^Case:/).inputValue()).toContain('GET /Observation/obs-pat-alba-0');
  await page.getByRole('button', { name: 'Evaluate with the active bundle' }).click();
  await page.getByRole('heading', { name: 'Request: denied' }).waitFor();
  expect(cspViolations).toEqual([]);
  await page.context().close();
}, 30_000);

test('an impact replay through the page finds exactly the decision the changed rule changes', async () => {
  // The candidate: the shipped policy tree with billing no longer reading Encounters.
  const dir = path.join(storeDir, 'candidate');
  cpSync(path.resolve(import.meta.dirname, '../../policies'), dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}dist`) && !src.includes(`${path.sep}tests`) });
  const rolesFile = path.join(dir, 'fhirgw/roles/data.json');
  const roles = JSON.parse(readFileSync(rolesFile, 'utf8'));
  roles.billing.read = roles.billing.read.filter((t: string) => t !== 'Encounter');
  writeFileSync(rolesFile, JSON.stringify(roles));
  const { page, cspViolations } = await signedInPage({ sub: 'pa-3', name: 'Ines Author', roles: ['policy-author'] });
  await page.getByRole('link', { name: 'Impact' }).click();
  await page.getByRole('heading', { level: 1, name: 'Impact' }).waitFor();
  await page.getByLabel('Candidate policy folder').setInputFiles(dir);
  await page.getByText(/^\d+ source files chosen\.$/).waitFor();
  await page.getByRole('button', { name: 'Replay against the candidate' }).click();
  await page.getByRole('heading', { name: /^1 decision change \(replayed \d+ of \d+ records/ }).waitFor();
  const rows = await page.locator('table.records tbody tr').allTextContents();
  expect(rows).toHaveLength(1);
  expect(rows[0]).toContain('GET /Encounter/enc-pat-alba');
  expect(rows[0]).toContain('biller-1 roles billing');
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'impact.png'), fullPage: true });

  // Ship in shadow mode: the gateway loads the candidate as its shadow bundle.
  await page.getByRole('button', { name: 'Ship in shadow mode' }).click();
  const shipped = await page.getByRole('status').filter({ hasText: /^Shipped revision [0-9a-f]{16} as the shadow bundle/ }).textContent();
  const revision = /revision ([0-9a-f]{16})/.exec(shipped ?? '')![1];
  await eventually(async () => (await stack.gateway.metrics.policyInfo.get()).values.some((v) => v.labels['bundle'] === 'shadow' && v.labels['revision'] === revision), Boolean, 'the shadow bundle loaded');
  expect(cspViolations).toEqual([]);
  await page.context().close();
}, 30_000);

/** The file a download event saved. */
async function downloaded(page: Page, click: () => Promise<void>): Promise<{ name: string; bytes: Buffer }> {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: download.suggestedFilename(), bytes: readFileSync((await download.path())!) };
}

test('patient access history: what the patient sees and the staff names, with the disclosures downloaded as CSV and PDF', async () => {
  const token = await stack.issuer.mint({ sub: 'Practitioner/prac-curie', fhirUser: 'Practitioner/prac-curie', client_id: 'ward-app', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
  expect((await stack.fetch('Patient/pat-bruno', { token })).status).toBe(200);
  const { page, cspViolations } = await signedInPage({ sub: 'po-5', name: 'Hana Officer', roles: ['privacy-officer'] });
  await page.getByRole('link', { name: 'Access history' }).click();
  await page.getByRole('heading', { level: 1, name: 'Access history' }).waitFor();
  await page.getByLabel('Patient id').fill('pat-bruno');
  // The read is in the store once its record is delivered: search again until it shows.
  await eventually(
    async () => {
      await page.getByRole('button', { name: 'Show access history' }).click();
      await page.getByRole('heading', { name: /^Access history of patient pat-bruno/ }).waitFor();
      return page.locator('table.records tbody tr', { hasText: 'Practitioner/prac-curie' }).count();
    },
    (n) => n === 1,
    'the read of pat-bruno in the history',
  );
  const row = await page.locator('table.records tbody tr', { hasText: 'Practitioner/prac-curie' }).textContent();
  expect(row).toContain('GET read Patient');
  expect(row).toContain('the care provider (clinician)');
  expect(row).toContain('ward-app');
  expect(await page.getByText('The patient sees staff by role, as "the care provider"').count()).toBe(1);
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'access-history.png'), fullPage: true });

  const csv = await downloaded(page, () => page.getByRole('link', { name: 'Download CSV' }).click());
  expect(csv.name).toMatch(/^disclosures-pat-bruno-\d{4}-\d{2}-\d{2}\.csv$/);
  const lines = csv.bytes.toString('utf8').trim().split('\n');
  expect(lines[0]).toBe('date,user,organisation,client,description,purpose_of_use,tpo,break_glass,record');
  expect(lines.some((l) => l.includes('Practitioner/prac-curie,,ward-app,Patient 1,TREAT,true,false,'))).toBe(true);
  const pdf = await downloaded(page, () => page.getByRole('link', { name: 'Download PDF' }).click());
  expect(pdf.name).toMatch(/\.pdf$/);
  expect(pdf.bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
  expect(pdfText(pdf.bytes).strings).toEqual(expect.arrayContaining(['Accounting of disclosures', 'pat-bruno', 'Practitioner/prac-curie', 'ward-app']));
  expect(cspViolations).toEqual([]);
  await page.context().close();
}, 30_000);

test('a breach scope: affected patients with the chain verified, CSV downloaded, then revoke now after confirming; the gateway refuses the subject', async () => {
  const token = await stack.issuer.mint({ sub: 'leaky-1', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
  expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(200);
  expect((await stack.fetch('Observation?patient=Patient/pat-alba', { token })).status).toBe(200);
  const { page, cspViolations } = await signedInPage({ sub: 'po-6', name: 'Ivo Officer', roles: ['privacy-officer'] });
  await page.getByRole('link', { name: 'Breach scope' }).click();
  await page.getByRole('heading', { level: 1, name: 'Breach scope' }).waitFor();
  await page.getByLabel('Search by').selectOption('subject');
  await page.getByLabel(/^Value/).fill(`${stack.issuer.issuer} leaky-1`);
  await eventually(
    async () => {
      await page.getByRole('button', { name: 'Find affected patients' }).click();
      return (await page.getByRole('heading', { name: /affected patient/ }).textContent()) ?? '';
    },
    (t) => /in 2 of 2 records\)$/.test(t),
    'both records of leaky-1 in the store',
  );
  expect(await page.getByRole('heading', { name: /^1 affected patient \(/ }).count()).toBe(1);
  expect(await page.locator('table.records tbody tr').allTextContents()).toEqual([expect.stringMatching(/^pat-alba.*Observation \d+.*Patient 1/)]);
  expect(await page.getByText(/^Chain intact over \d+ records?\.$/).count()).toBe(1);
  const csv = await downloaded(page, () => page.getByRole('link', { name: 'Download CSV' }).click());
  expect(csv.bytes.toString('utf8').split('\n').slice(0, 2)).toEqual(['patient,released,first_access,last_access,records', expect.stringMatching(/^pat-alba,"?Observation \d+; Patient 1"?,/)]);

  await page.getByRole('button', { name: 'Revoke now' }).click();
  await page.getByRole('heading', { name: 'Confirm the revocation' }).waitFor();
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'breach-scope.png'), fullPage: true });
  // Nothing is revoked before the confirmation.
  expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(200);
  await page.getByRole('button', { name: 'Confirm revocation' }).click();
  await page.getByRole('status').filter({ hasText: /^Revoked: every token of this subject/ }).waitFor();
  expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(401);
  expect(cspViolations).toEqual([]);
  await page.context().close();
}, 30_000);

test('reviewing a break-the-glass case: its record trail with the chain verified, closed as unjustified with a note', async () => {
  const openBefore = await metric(stack, /^fhirgw_review_cases_open (\d+)/m);
  const token = await stack.issuer.mint(breakGlassClaims('Practitioner/prac-btg-ui', 'Cardiac arrest on the ward'));
  expect((await stack.fetch(`Observation/${RESTRICTED_OBSERVATION}`, { token })).status).toBe(200);
  await eventually(() => metric(stack, /^fhirgw_review_cases_open (\d+)/m), (n) => n === openBefore + 1, 'the case opened by the detector', 20_000);
  const { page, cspViolations } = await signedInPage({ sub: 'po-7', name: 'Jun Officer', roles: ['privacy-officer'] });
  await page.getByRole('link', { name: 'Cases' }).click();
  await page.getByRole('heading', { level: 1, name: 'Cases' }).waitFor();
  await page.getByLabel('Kind').selectOption('break-glass');
  await page.getByLabel('Patient id').fill('pat-alba');
  await page.getByRole('button', { name: 'Show cases' }).click();
  const row = page.locator('table.records tbody tr', { hasText: 'Practitioner/prac-btg-ui' });
  await row.waitFor();
  await row.getByRole('button', { name: /^Open case of Practitioner\/prac-btg-ui/ }).click();
  await page.getByRole('heading', { name: 'Case: break-glass, open' }).waitFor();
  expect(await page.locator('dl.facts').textContent()).toContain('Cardiac arrest on the ward');
  expect(await page.getByText(/^Chain intact over \d+ records?\.$/).count()).toBe(1);
  const trail = await page.locator('section.detail table.records tbody tr').allTextContents();
  expect(trail).toEqual([expect.stringContaining(`GET Observation/${RESTRICTED_OBSERVATION}`)]);
  expect(trail[0]).toContain('break-the-glass');
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'cases.png'), fullPage: true });

  await page.getByLabel('Unjustified').check();
  await page.getByLabel('Note').fill('No cardiac arrest recorded for this patient');
  await page.getByRole('button', { name: 'Close case' }).click();
  await page.getByRole('heading', { name: 'Case: break-glass, unjustified' }).waitFor();
  expect(await page.locator('ul.transitions').textContent()).toMatch(/open → unjustified by .*\|po-7: No cardiac arrest recorded for this patient/);
  expect(await metric(stack, /^fhirgw_review_cases_open (\d+)/m)).toBe(openBefore);
  expect(await axeViolations(page)).toEqual([]);
  expect(cspViolations).toEqual([]);
  await page.context().close();

  // An auditor reads the same case and is offered no review.
  const auditor = await signedInPage({ sub: 'au-7', name: 'Kai Auditor', roles: ['auditor'] });
  await auditor.page.getByRole('link', { name: 'Cases' }).click();
  await auditor.page.getByLabel('Status').selectOption('');
  await auditor.page.getByRole('button', { name: 'Show cases' }).click();
  await auditor.page.locator('table.records tbody tr', { hasText: 'Practitioner/prac-btg-ui' }).getByRole('button').click();
  await auditor.page.getByRole('heading', { name: 'Case: break-glass, unjustified' }).waitFor();
  expect(await auditor.page.getByRole('button', { name: 'Close case' }).count()).toBe(0);
  expect(await auditor.page.getByRole('link', { name: 'Breach scope' }).count()).toBe(0);
  await auditor.page.context().close();
}, 45_000);
