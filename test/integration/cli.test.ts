/**
 * The public commands as users run them: `fhir-gateway serve --config` and `fhir-gateway demo`,
 * spawned from the compiled package (npm test builds it first).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { startFhirServer } from '../../src/devkit/fhir-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { seedSyntheticData } from '../../src/devkit/synthetic-data.js';
import { startTokenIssuer } from '../../src/devkit/token-issuer.js';
import { testLogFile } from '../support/logs.js';
import { jsonOf } from '../support/stack.js';

const CLI = path.resolve('dist/cli.js');
const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function writeConfig(text: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'fhirgw-cli-')), 'gateway.yaml');
  writeFileSync(file, text);
  return file;
}

function waitForOutput(child: ChildProcessWithoutNullStreams, pattern: RegExp, timeoutMs = 20000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited with ${code} before ${pattern}; output:\n${out}`)));
  });
}

describe('fhir-gateway serve', () => {
  test.each([
    ['an unknown key', 'publicBaseUrl: https://h/fhir\nupstream: { url: http://u/fhir, timeoutMS: 5 }\nauth: { issuer: https://idp }\n', 'upstream.timeoutMS'],
    ['a wrong type', 'publicBaseUrl: https://h/fhir\nupstream: { url: http://u/fhir, timeoutMs: soon }\nauth: { issuer: https://idp }\n', 'upstream.timeoutMs'],
    ['a missing key', 'publicBaseUrl: https://h/fhir\nupstream: { url: http://u/fhir }\n', 'auth'],
    ['broken YAML', 'publicBaseUrl: [\n', '(root)'],
  ])('a config with %s stops the process with exit 2 naming the key', (_name, yaml, key) => {
    const r = spawnSync('node', [CLI, 'serve', '--config', writeConfig(yaml)], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`invalid configuration at ${key}`);
  });

  test('an environment override with a bad value names the key it overrides', () => {
    const r = spawnSync('node', [CLI, 'serve', '--config', 'config/gateway.yaml'], { encoding: 'utf8', timeout: 20000, env: { ...process.env, FHIRGW_LISTEN_PORT: 'http' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('invalid configuration at listen.port');
  });

  test('a missing policy bundle stops start-up', () => {
    const r = spawnSync('node', [CLI, 'serve', '--config', 'config/gateway.yaml'], { encoding: 'utf8', timeout: 20000, env: { ...process.env, FHIRGW_POLICY_BUNDLE: '/nonexistent/b.tar.gz' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot load policy bundle /nonexistent/b.tar.gz: ENOENT');
  });

  test('serves a valid config, becomes ready, answers, and exits 0 on SIGTERM', async () => {
    const fhir = await startFhirServer();
    await seedSyntheticData(fhir.repo);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}/fhir`;
    const issuer = await startTokenIssuer({ audience: base });
    try {
      const config = writeConfig(`listen: { host: 127.0.0.1, port: ${port} }\npublicBaseUrl: ${base}\nupstream: { url: ${fhir.baseUrl} }\nauth: { issuer: ${issuer.issuer} }\naudit: { sinks: [ { type: stdout } ] }\nlog: { level: info }\n`);
      const child = spawn('node', [CLI, 'serve', '--config', config]);
      children.push(child);
      child.stderr.pipe(createWriteStream(testLogFile('cli-serve')));
      await waitForOutput(child, /token signing keys loaded/);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const token = await issuer.mint({ sub: 'Patient/pat-alba', scope: 'patient/*.rs', patient: 'pat-alba' });
      const res = await fetch(`${base}/Patient/pat-alba`, { headers: { authorization: `Bearer ${token}` } });
      expect((await jsonOf(res)).id).toBe('pat-alba');
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await issuer.close();
      await fhir.close();
    }
  });
});

describe('fhir-gateway demo', () => {
  test('prints curl lines whose first one answers FHIR JSON', async () => {
    const port = await freePort();
    const child = spawn('node', [CLI, 'demo', '--port', String(port)]);
    children.push(child);
    // Its log (stderr) is scanned like every gateway's; stdout is the demo's own curl line, token included by design.
    child.stderr.pipe(createWriteStream(testLogFile('cli-demo')));
    const line = await waitForOutput(child, /^curl -i -H "Authorization: Bearer [^"]+" '[^']+'$/m);
    const [, token, url] = /Bearer ([^"]+)" '([^']+)'/.exec(line) as unknown as [string, string, string];
    expect(url).toBe(`http://127.0.0.1:${port}/fhir/Patient/pat-alba`);
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toMatchObject({ resourceType: 'Patient', id: 'pat-alba' });
  });
});
