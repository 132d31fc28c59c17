/**
 * `npm run bench` end to end, in seconds (--smoke: one round of the read scenario, a 1 MB export,
 * a few in-process samples): every process starts (upstream, bare proxy, gateway, gateway with a
 * real OPA server, load generator, downloader), every design answers, and the results are written
 * as JSON, Markdown and SVG. The numbers of such a run mean nothing; the benchmark's pure parts are
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
  expect(files.map((f) => path.extname(f))).toEqual(['.json', '.md', '.svg']);
  const run = JSON.parse(readFileSync(path.join(out, files[0]!), 'utf8')) as BenchRun;
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
  expect(run.budgets.map((b) => b.id)).toEqual(expect.arrayContaining(['read.throughput', 'read.latency', 'decision.request', 'ndjson.memory']));
  expect(readFileSync(path.join(out, files[1]!), 'utf8')).toContain('| Single read (Patient) | (c) gateway, in-process WASM |');
  expect(readFileSync(path.join(out, files[2]!), 'utf8')).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
}, 120_000);
