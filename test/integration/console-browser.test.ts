/**
 * The console in a real browser: Debian's Chromium driven by playwright-core (no downloaded
 * browser), the built front end (npm run build) served by the console listener of a real gateway,
 * sign-in through a real OpenID Connect provider, traffic through the gateway in front of Medplum's
 * FHIR engine. Each page is checked with axe-core and saved as a screenshot under
 * .tmp/console-screenshots/. The CSP is the real one: the page must work without a violation.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../src/devkit/ports.js';
import { CONSOLE_ASSETS } from '../../src/console/server.js';
import { ensureOpa } from '../../scripts/lib/opa.mjs';
import { startConsoleIdp, type ConsoleIdp } from '../support/console-idp.js';
import { startStack, type Stack } from '../support/stack.js';

const SHOTS = path.resolve(import.meta.dirname, '../../.tmp/console-screenshots');
let stack: Stack;
let idp: ConsoleIdp;
let browser: Browser;
let consoleUrl: string;
let storeDir: string;

beforeAll(async () => {
  if (!existsSync(path.join(CONSOLE_ASSETS, 'index.html'))) throw new Error('the console front end is not built: run npm run build first');
  process.env['FHIRGW_OPA'] = ensureOpa();
  mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  storeDir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-console-browser-'));
  consoleUrl = `http://127.0.0.1:${port}`;
  idp = await startConsoleIdp({ redirectUris: [`${consoleUrl}/callback`] });
  stack = await startStack({
    config: (d) => ({ ...d, audit: { sinks: [...(d.audit?.sinks ?? []), { type: 'postgres', embedded: { dir: storeDir } }] }, console: { host: '127.0.0.1', port, oidc: { issuer: idp.issuer, clientId: 'fhir-console', scope: 'openid profile roles' } } }),
  });
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
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await idp?.close();
  rmSync(storeDir, { recursive: true, force: true });
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
  expect(cspViolations).toEqual([]);
  await page.context().close();
}, 30_000);
