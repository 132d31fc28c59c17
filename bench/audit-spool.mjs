#!/usr/bin/env node
// What durable audit costs a request: the time from Spool.append to its group-committed fdatasync
// (seal, write, fdatasync), at fixed arrival rates (open loop, as at a gateway) and with N appends
// always in flight (closed loop, saturation), on a real directory (default: the OS temp dir; pass
// the directory the spool will live on to measure that disk). `loop p99` is the event loop's own
// delay: on a busy machine no wait can be shorter. Needs `npm run build`.
//
//   node bench/audit-spool.mjs [dir] [seconds-per-level]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Spool } from '../dist/audit/spool/spool.js';

const base = process.argv[2] ?? os.tmpdir();
const seconds = Number(process.argv[3] ?? 3);
const key = Buffer.from('bench-audit-hmac-key-0123456789abcdef');
const record = () => ({
  schemaVersion: 2, kind: 'request', decisionId: randomUUID(), requestId: randomUUID(), time: new Date().toISOString(), client: { address: '10.0.0.7' },
  principal: { iss: 'https://idp.example', sub: 'Practitioner/p1', client_id: 'app', jti: randomUUID(), roles: ['clinician'], purpose_of_use: ['TREAT'], patient: null, fhir_user: 'Practitioner/p1', scopes: ['user/*.rs'] },
  request: { method: 'GET', interaction: 'search-type', type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [{ name: 'code', modifier: null, value: null, mask: 'removed' }, { name: '_count', modifier: null, value: '50', mask: 'kept' }] },
  outcome: { decision: 'allow', reasons: ['scope.ok'], error: null, status: 200, breakGlass: false },
  entries: { returned: 50, withheld: 2, redacted: 0, withheldRefs: ['Observation/a', 'Observation/b'], redactedRefs: [] },
  policyRevision: '0123456789abcdef', durationMs: 3.2,
});

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const fmt = (v) => v.toFixed(3);

/** Opens a fresh spool, runs `load(spool, waits)`, and reports the append-to-commit waits and the commits. */
async function measure(label, load) {
  const dir = mkdtempSync(path.join(base, 'fhirgw-bench-spool-'));
  const spool = await Spool.open({ dir, maxBytes: 4 * 1024 ** 3, segmentBytes: 64 * 1024 ** 2, windowRecords: 10000, key, sinks: ['s'] });
  const commits = [];
  spool.onGroupCommit = (records, s) => commits.push([records, s * 1000]);
  const waits = [];
  let acked = 0;
  const append = async () => {
    const t = process.hrtime.bigint();
    const sealed = await spool.append(record());
    waits.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (sealed.chain.seq - acked > 5000) spool.ack('s', (acked = sealed.chain.seq)); // keep the spool small
  };
  // Event-loop delay, to tell the spool's cost from a busy machine's: a wait can never be shorter.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const started = Date.now();
  await load(append);
  const elapsed = (Date.now() - started) / 1000;
  loopDelay.disable();
  await spool.close();
  rmSync(dir, { recursive: true, force: true });
  waits.sort((a, b) => a - b);
  const commitMs = commits.map((c) => c[1]).sort((a, b) => a - b);
  const perCommit = commits.reduce((n, c) => n + c[0], 0) / commits.length;
  const row = [label, Math.round(waits.length / elapsed), Math.round(commits.length / elapsed), perCommit.toFixed(1), fmt(pct(waits, 0.5)), fmt(pct(waits, 0.99)), fmt(pct(waits, 0.999)), fmt(pct(commitMs, 0.5)), fmt(pct(commitMs, 0.99)), fmt(loopDelay.percentile(99) / 1e6)];
  console.log(row.map((v, i) => String(v).padStart(i === 0 ? 14 : 10)).join(' '));
}

console.log(`spool in ${base}; ${seconds} s per level; Node ${process.version}, ${os.cpus().length} cores`);
console.log('          load  records/s  commits/s rec/commit  wait p50   wait p99  wait p999  commit p50 commit p99  loop p99   (ms)');
// Open loop: requests arrive at a fixed rate whether or not earlier ones are done, as at a gateway.
for (const rate of [500, 1000, 2000, 4000]) {
  await measure(`${rate}/s open`, async (append) => {
    const pending = [];
    const end = Date.now() + seconds * 1000;
    const t0 = Date.now();
    let sent = 0;
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      for (; sent < due; sent++) pending.push(append());
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
  });
}
// Closed loop: N requests always in flight (a saturation test: each group is N records).
for (const concurrency of [1, 64]) {
  await measure(`${concurrency} in flight`, async (append) => {
    const end = Date.now() + seconds * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) await append();
    }));
  });
}
