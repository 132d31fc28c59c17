#!/usr/bin/env node
// What durable audit costs a whole request: the same gateway (Medplum upstream, real tokens, the
// shipped policy, a file sink) with the audit spool in memory, async on disk, and durable on disk,
// at a fixed number of concurrent clients. Loopback only; bounded in count. Needs `npm run build`.
//
//   node bench/audit-gateway.mjs [requests-per-mode] [concurrency]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildConfig } from '../dist/config/load.js';
import { startFhirServer } from '../dist/devkit/fhir-server.js';
import { freePort } from '../dist/devkit/ports.js';
import { seedSyntheticData } from '../dist/devkit/synthetic-data.js';
import { startTokenIssuer } from '../dist/devkit/token-issuer.js';
import { createLogger } from '../dist/observability/logger.js';
import { startGateway } from '../dist/server.js';

const N = Number(process.argv[2] ?? 3000);
const C = Number(process.argv[3] ?? 16);
const fhir = await startFhirServer();
await seedSyntheticData(fhir.repo);
const pct = (s, p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
console.log(`${N} reads per mode, ${C} concurrent clients, Node ${process.version}, ${os.cpus().length} cores`);
console.log('mode                 req/s    p50 ms   p99 ms');
for (const mode of ['memory', 'async', 'durable', 'memory', 'async', 'durable']) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-bench-gw-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/fhir`;
  const issuer = await startTokenIssuer({ audience: base });
  const config = buildConfig({
    listen: { host: '127.0.0.1', port },
    publicBaseUrl: base,
    upstream: { url: fhir.baseUrl },
    auth: { issuer: issuer.issuer },
    audit: { sinks: [{ type: 'file', path: path.join(dir, 'audit.jsonl') }], ...(mode === 'memory' ? {} : { spool: { dir: path.join(dir, 'spool'), durability: mode } }) },
    log: { level: 'silent' },
  }, { env: {} });
  const gateway = await startGateway(config, { logger: createLogger('silent'), env: { FHIRGW_AUDIT_HMAC_KEY: 'bench-audit-hmac-key-0123456789abcdef' } });
  await gateway.ready;
  const token = await issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
  const lat = [];
  let next = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: C }, async () => {
    while (next++ < N) {
      const t = process.hrtime.bigint();
      const res = await fetch(`${base}/Patient/pat-alba`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }));
  const secs = (Date.now() - t0) / 1000;
  await gateway.close();
  await issuer.close();
  rmSync(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  console.log(`${mode.padEnd(16)} ${String(Math.round(lat.length / secs)).padStart(8)} ${pct(lat, 0.5).padStart(9)} ${pct(lat, 0.99).padStart(8)}`);
}
await fhir.close();
