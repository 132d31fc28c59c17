/**
 * The public commands as users run them: `fhir-gateway serve --config` and the demo (`npm run demo`,
 * its own entry point dist/devkit/main.js), spawned from the compiled package (the Jest global setup
 * rebuilds dist/ when the sources changed).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { startFhirServer } from '../../src/devkit/fhir-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { seedSyntheticData } from '../../src/devkit/synthetic-data.js';
import { CookieJar } from '../support/console-idp.js';
import { startTokenIssuer } from '../../src/devkit/token-issuer.js';
import { testLogFile } from '../support/logs.js';
import { jsonOf } from '../support/stack.js';
import { COMMANDS_WITH_HELP } from '../../src/cli-usage.js';

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

/** The CLI run to its end without blocking this process (which may serve what the CLI fetches). */
function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { env });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
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

  test('a start-up failure on what the configuration names exits 2 naming the key (an unreadable audit key file)', () => {
    const r = spawnSync('node', [CLI, 'serve', '--config', 'config/gateway.yaml'], { encoding: 'utf8', timeout: 20000, env: { ...process.env, FHIRGW_AUDIT_HMAC_KEY_FILE: '/nonexistent/audit.key' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('invalid configuration at audit.hmacKeyFile: cannot read /nonexistent/audit.key: ENOENT');
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

describe('the demo (npm run demo)', () => {
  test('prints curl lines whose first one answers FHIR JSON, and the console URL, where a demo privacy officer signs in', async () => {
    const port = await freePort();
    const child = spawn('node', [path.resolve('dist/devkit/main.js'), '--port', String(port)]);
    children.push(child);
    // Its log (stderr) is scanned like every gateway's; stdout is the demo's own curl line, token included by design.
    child.stderr.pipe(createWriteStream(testLogFile('cli-demo')));
    // Both are awaited from the start: the demo prints its lines in one write.
    // The embedded audit store (PGlite) takes seconds to start on a busy machine.
    const consoleLinePrinted = waitForOutput(child, /^# The console .*: open (http:\/\/127\.0\.0\.1:\d+) and sign in as$/m, 90_000);
    // Rejected when the child exits; awaited below, so a rejection before then must not go unhandled.
    consoleLinePrinted.catch(() => {});
    const line = await waitForOutput(child, /^curl -i -H "Authorization: Bearer [^"]+" '[^']+'$/m, 90_000);
    const [, token, url] = /Bearer ([^"]+)" '([^']+)'/.exec(line) as unknown as [string, string, string];
    expect(url).toBe(`http://127.0.0.1:${port}/fhir/Patient/pat-alba`);
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toMatchObject({ resourceType: 'Patient', id: 'pat-alba' });

    // The console is on, its URL printed, and a privacy officer signs in at the demo's IdP for real.
    const consoleLine = await consoleLinePrinted;
    const consoleUrl = /open (\S+) and sign in/.exec(consoleLine)![1]!;
    const page = await fetch(consoleUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const jar = new CookieJar();
    let at = `${consoleUrl}/login`;
    let res2: Response;
    for (let hop = 0; ; hop++) {
      expect(hop).toBeLessThan(20);
      res2 = await fetch(at, { redirect: 'manual', headers: { cookie: jar.header(at) } });
      jar.store(at, res2);
      const location = res2.headers.get('location');
      if (location) {
        at = new URL(location, at).href;
        continue;
      }
      if (res2.status === 200 && at.includes('/interaction/')) {
        // The demo IdP's sign-in page: a form with one button per demo user.
        expect(await res2.text()).toContain('Priya Officer (privacy-officer)');
        res2 = await fetch(at, { method: 'POST', redirect: 'manual', headers: { cookie: jar.header(at), 'content-type': 'application/x-www-form-urlencoded' }, body: 'user=privacy-officer-1' });
        jar.store(at, res2);
        at = new URL(res2.headers.get('location')!, at).href;
        continue;
      }
      break;
    }
    expect(at.startsWith(`${consoleUrl}/callback`)).toBe(true);
    const session = await fetch(`${consoleUrl}/api/session`, { headers: { cookie: jar.header(consoleUrl) } });
    expect(session.status).toBe(200);
    expect(await session.json()).toMatchObject({ user: { name: 'Priya Officer' }, roles: ['privacy-officer'] });
  }, 120_000);
});

describe('help, version and exit codes', () => {
  test.each(COMMANDS_WITH_HELP)('`%s --help` prints its usage and exits 0', (command) => {
    const r = spawnSync('node', [CLI, ...command.split(' '), '--help'], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`fhir-gateway ${command}`);
    expect(r.stdout).toContain('exit codes:');
  });

  test('--version prints the package version, the source revision and the Node version', () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    const r = spawnSync('node', [CLI, '--version'], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^fhir-gateway ${version.replace(/\./g, '\\.')} \\(revision ([0-9a-f]{40}|unknown), node ${process.version.replace(/\./g, '\\.')}\\)$`));
  });

  test.each([
    ['an unknown option', ['serve', '--config', 'config/gateway.yaml', '--port', '1'], 'fhir-gateway serve --config'],
    ['an unknown command', ['srve'], 'fhir-gateway serve --config'],
    ['a missing --config', ['config', 'check'], 'fhir-gateway config check --config'],
    ['an unknown option of a subcommand', ['audit', 'verify', 'x.jsonl', '--keyfile', 'k'], 'fhir-gateway audit verify'],
  ])('%s exits 2 with the usage', (_name, args, usage) => {
    const r = spawnSync('node', [CLI, ...args], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(usage);
  });
});

describe('fhir-gateway config check', () => {
  test('a good configuration: keys fetched, bundle loaded, printed with secrets masked, exit 0; an unknown FHIRGW_ variable is warned about', async () => {
    const issuer = await startTokenIssuer({ audience: 'http://127.0.0.1/fhir' });
    try {
      const hmacKey = 'k'.repeat(40);
      const config = writeConfig(
        `publicBaseUrl: http://127.0.0.1/fhir\nupstream: { url: http://127.0.0.1:9/fhir }\nauth: { issuer: ${issuer.issuer} }\n` +
          'redis: { url: "redis://gw:s3cret-pass@redis.internal:6379/0" }\n' +
          'audit: { sinks: [ { type: http, url: "https://siem.example/x", headers: { X-Api-Key: not-for-logs } } ] }\n',
      );
      // Spawned asynchronously: the token issuer answering the check runs in this process.
      const r = await runCli(['config', 'check', '--config', config], { ...process.env, FHIRGW_AUDIT_HMAC_KEY: hmacKey, FHIRGW_LISTEN_PROT: '8080' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`ok +issuer ${issuer.issuer}: JWKS ${issuer.jwksUri} has 1 key\\(s\\)`));
      expect(r.stdout).toMatch(/ok +policy bundle loaded \(revision [0-9a-f]+\)/);
      expect(r.stdout).toMatch(/warning +unknown FHIRGW_\* environment variables are ignored \(misspelt\?\): FHIRGW_LISTEN_PROT/);
      expect(r.stdout).toContain('url: redis://***:***@redis.internal:6379/0');
      expect(r.stdout).toContain('X-Api-Key: "***"');
      for (const secret of ['s3cret-pass', 'not-for-logs', hmacKey]) expect(r.stdout).not.toContain(secret);
      expect(r.stdout).toContain('config check: the gateway would start with this configuration');
    } finally {
      await issuer.close();
    }
  });

  test('a bad configuration: every problem listed with its key, exit 2', () => {
    const config = writeConfig('publicBaseUrl: https://h/fhir\nupstream: { url: http://u/fhir, timeoutMS: 5 }\nauth: { issuer: https://idp }\nlog: { level: loud }\n');
    const r = spawnSync('node', [CLI, 'config', 'check', '--config', config], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/problem +upstream\.timeoutMS: unknown key/);
    expect(r.stdout).toMatch(/problem +log\.level: /);
    expect(r.stdout).toContain('config check: 2 problem(s)');
  });

  test('an unreachable JWKS and a missing bundle are problems naming their keys', async () => {
    const port = await freePort();
    const config = writeConfig(`publicBaseUrl: https://h/fhir\nupstream: { url: http://u/fhir }\nauth: { issuer: "http://127.0.0.1:${port}", jwksUri: "http://127.0.0.1:${port}/jwks" }\npolicy: { bundle: /nonexistent/b.tar.gz }\n`);
    const r = spawnSync('node', [CLI, 'config', 'check', '--config', config], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(new RegExp(`problem +auth\\.jwksUri: JWKS http://127\\.0\\.0\\.1:${port}/jwks cannot be used: network \\(ECONNREFUSED\\)`));
    expect(r.stdout).toMatch(/problem +policy\.bundle: cannot load policy bundle \/nonexistent\/b\.tar\.gz: ENOENT/);
  });
});
