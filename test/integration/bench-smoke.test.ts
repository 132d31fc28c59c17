/**
 * `npm run bench` end to end, in seconds (--smoke: one round of the read scenario, a short run of
 * reads at a fixed rate, a 1 MB export, a few in-process samples): every process starts (upstream,
 * bare proxy, gateway, gateway with a real OPA server, load generator, downloader), every design
 * answers, and the results are written as JSON, Markdown and two SVGs; every budget of issue 21 is
 * listed with a target and a measured value or "not measured". The numbers of such a run mean nothing; the benchmark's pure parts are
 * tested in test/unit/bench-report.test.ts. Runs the gateway from src/ (through tsx), so it needs
 * no build.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, test } from '@jest/globals';
import { ROOT } from '../../scripts/lib/opa.mjs';
import type { BenchRun } from '../../bench/lib/model.js';

/** Issue 21's budgets, in the order the report lists them. */
const BUDGET_IDS = ['read.cpu', 'read.latency', 'search-100.cpu', 'bundle-1000.cpu.clinician', 'bundle-1000.cpu.researcher', 'linearity.cpu', 'search-100-half-withheld.cpu', 'load.p99', 'load.tail', 'ndjson.memory'];

const out = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test('a smoke run measures every design and writes its results', async () => {
  const env = { ...process.env, FHIRGW_BENCH_CODE: pathToFileURL(path.join(ROOT, 'src/')).href };
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run.ts'), '--smoke', '--out', out], { cwd: ROOT, env, timeout: 120_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(),
    ),
  );
  const files = readdirSync(out).sort();
  expect(files).toHaveLength(4);
  const name = files.find((f) => f.endsWith('.json'))!.replace(/\.json$/, '');
  expect(files).toEqual([`${name}-linearity.svg`, `${name}.json`, `${name}.md`, `${name}.svg`].sort());
  const run = JSON.parse(readFileSync(path.join(out, `${name}.json`), 'utf8')) as BenchRun;
  const md = readFileSync(path.join(out, `${name}.md`), 'utf8');
  expect(run.scenarios.map((s) => s.target).sort()).toEqual(['bare', 'direct', 'gateway', 'gateway-opa']);
  for (const s of run.scenarios) {
    expect(s.rounds[0]!.requests).toBeGreaterThan(0);
    expect(s.failures).toBe(0);
  }
  expect(run.scenarios.find((s) => s.target === 'gateway')!.cpuMs.proxy).toBeGreaterThan(0);
  expect(run.scenarios.find((s) => s.target === 'gateway-opa')!.cpuMs.sidecar).toBeGreaterThan(0);
  expect(run.bulk.map((b) => `${b.target}:${b.complete}`)).toEqual(['direct:true', 'bare:true', 'gateway:true', 'gateway:true']);
  for (const b of run.bulk) expect(b.lines).toBeGreaterThan(100);
  expect(run.enforce.map((e) => e.entries)).toEqual([1000, 1000]);
  expect(run.decisions).toHaveLength(2);
  // The read's answer was counted before the rounds.
  for (const s of run.scenarios) expect(s.entries).toBe(1);
  // Reads at a fixed rate, derived from the gateway's CPU per read (a smoke run leaves out the bare proxy at the same rate).
  expect(run.load.map((l) => l.target)).toEqual(['gateway']);
  for (const l of run.load) {
    expect(l.targetRps).toBe(Math.max(1, Math.round(2 * l.r50)));
    expect(l.latency.count).toBeGreaterThan(0);
    expect(l.latency.max).toBeGreaterThanOrEqual(l.latency.p99);
  }
  // A smoke run measures no search: the linearity is empty and its budget not measured.
  expect(run.linearity).toEqual([]);
  expect(run.budgets.map((b) => b.id)).toEqual(BUDGET_IDS);
  for (const b of run.budgets) {
    expect(b.target).toMatch(/^≤ \d/);
    expect(b.measured).not.toBe('');
    if (b.measured === 'not measured') expect(b.pass).toBeNull();
    // In the Markdown: the budget's row with its target, measured value and result.
    expect(md).toContain(`| ${b.description} | ${b.target} | ${b.measured} | `);
  }
  // What the smoke run does measure is measured, whatever the verdict.
  for (const id of ['read.cpu', 'read.latency', 'bundle-1000.cpu.clinician', 'bundle-1000.cpu.researcher', 'load.p99', 'load.tail', 'ndjson.memory']) {
    expect(run.budgets.find((b) => b.id === id)!.measured).not.toBe('not measured');
  }
  for (const id of ['search-100.cpu', 'linearity.cpu', 'search-100-half-withheld.cpu']) expect(run.budgets.find((b) => b.id === id)!.measured).toBe('not measured');
  expect(md).toContain('| Single read (Patient) | (c) gateway, in-process WASM |');
  expect(md).toContain(`](${name}-linearity.svg)`);
  expect(readFileSync(path.join(out, `${name}.svg`), 'utf8')).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
  expect(readFileSync(path.join(out, `${name}-linearity.svg`), 'utf8')).toMatch(/^<svg [\s\S]*Not measured in this run[\s\S]*<\/svg>\n$/);
}, 120_000);
