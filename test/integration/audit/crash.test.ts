/**
 * Durable mode against a crash: `fhir-gateway serve` (the compiled CLI, a real child process) is
 * SIGKILLed in the middle of a burst while its SIEM (a loopback HTTP receiver) refuses everything,
 * so every record exists only in the spool. After a restart, every request that was answered must
 * have its record delivered, and the chain (across both runs) must verify.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { verifyChain } from '../../../src/audit/chain.js';
import type { RequestRecord } from '../../../src/audit/record.js';
import { startFhirServer, type RunningFhirServer } from '../../../src/devkit/fhir-server.js';
import { freePort } from '../../../src/devkit/ports.js';
import { seedSyntheticData, SYNTHETIC_PATIENTS } from '../../../src/devkit/synthetic-data.js';
import { startTokenIssuer, type TokenIssuer } from '../../../src/devkit/token-issuer.js';
import { asEntries, burst, startReceiver, TEST_KEY, until, writeKeyFile, type Receiver } from '../../support/audit.js';
import { testLogFile } from '../../support/logs.js';

const CLI = path.resolve('dist/cli.js');
let fhir: RunningFhirServer;
let issuer: TokenIssuer;
let receiver: Receiver;
let dir: string;
let port: number;
let configFile: string;
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  fhir = await startFhirServer();
  await seedSyntheticData(fhir.repo);
  port = await freePort();
  issuer = await startTokenIssuer({ audience: `http://127.0.0.1:${port}/fhir` });
  receiver = await startReceiver();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-crash-'));
  configFile = path.join(dir, 'gateway.yaml');
  writeFileSync(
    configFile,
    [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      `publicBaseUrl: http://127.0.0.1:${port}/fhir`,
      `upstream: { url: ${fhir.baseUrl} }`,
      `auth: { issuer: ${issuer.issuer} }`,
      'audit:',
      `  sinks: [ { type: http, name: siem, url: "${receiver.url}" } ]`,
      '  spool: { dir: ./spool, durability: durable }',
      '  delivery: { retryInitialMs: 20, retryMaxMs: 200 }',
      `  hmacKeyFile: ${writeKeyFile(dir)}`,
      'log: { level: trace }',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await receiver?.close();
  await issuer?.close();
  await fhir?.close();
  rmSync(dir, { recursive: true, force: true });
});

function serve(): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn('node', [CLI, 'serve', '--config', configFile]);
  children.push(child);
  child.stderr.pipe(createWriteStream(testLogFile('crash')));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gateway not ready:\n${out}`)), 20000);
    const onData = (c: Buffer) => {
      out += c.toString();
      if (out.includes('token signing keys loaded')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
}

describe('durable audit across a gateway crash', () => {
  test('SIGKILL mid-burst: after a restart, every answered request has its record delivered and the chain verifies', async () => {
    receiver.refuse = true; // the SIEM is down: records can only be in the spool
    const first = await serve();
    const exited = new Promise((resolve) => first.once('exit', resolve));
    const token = await issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
    const base = `http://127.0.0.1:${port}/fhir`;
    const answers = await burst(200, 8, (i) => fetch(`${base}/Patient/${SYNTHETIC_PATIENTS[i % 3]!.id}`, { headers: { authorization: `Bearer ${token}` } }), (done) => {
      if (done === 100) first.kill('SIGKILL');
    });
    await exited;
    const answered = answers.filter((a) => a.status === 200);
    expect(answered.length).toBeGreaterThanOrEqual(100);
    expect(answered.length).toBeLessThan(200); // the kill really cut the burst
    expect(receiver.received).toHaveLength(0);

    receiver.refuse = false;
    const second = await serve();
    // The restarted gateway goes on with the same chain.
    const after = await burst(5, 1, () => fetch(`${base}/Patient/${SYNTHETIC_PATIENTS[0]!.id}`, { headers: { authorization: `Bearer ${token}` } }));
    expect(after.every((a) => a.status === 200)).toBe(true);

    const wanted = new Set([...answered, ...after].map((a) => a.requestId));
    await until(
      () => new Set(receiver.received.filter((r): r is RequestRecord => r.kind === 'request').map((r) => r.requestId)),
      (got) => [...wanted].every((id) => got.has(id)),
      20000,
      'every answered request to be delivered',
    );
    const report = verifyChain(asEntries(receiver.received), TEST_KEY);
    expect(report.problem).toBeNull();
    expect(Object.keys(report.instances)).toHaveLength(1);
    second.kill('SIGTERM');
  });
});
