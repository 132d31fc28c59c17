/**
 * What ships: the package as `npm pack` builds it (package.json "files"), installed the way the image
 * installs it (Dockerfile: `npm ci --omit=dev` over the packed tree and the lock file). That tree
 * holds neither the demo (src/devkit: an in-memory FHIR server and a token issuer that signs whatever
 * it is asked to) nor anything only the demo and the tests need (@medplum/*, every dev dependency),
 * cannot start the demo, and serves with the bundle it carries.
 * Packs the compiled dist/ as it is: npm test builds it before the suites run.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startFhirServer } from '../../src/devkit/fhir-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { seedSyntheticData } from '../../src/devkit/synthetic-data.js';
import { startTokenIssuer } from '../../src/devkit/token-issuer.js';
import { testLogFile } from '../support/logs.js';
import { jsonOf } from '../support/stack.js';

const ROOT = path.resolve('.');
let tmp = '';
let app = '';

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 170000 });
}

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-prod-'));
  // --ignore-scripts: `prepare` would compile again; dist/ is already built.
  const [packed] = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT)) as Array<{ filename: string }>;
  app = path.join(tmp, 'app');
  mkdirSync(app);
  run('tar', ['-xzf', path.join(tmp, packed!.filename), '-C', app, '--strip-components=1'], tmp);
  // npm never packs the lock file; the image copies it next to the packed tree, and so does this test.
  copyFileSync(path.join(ROOT, 'package-lock.json'), path.join(app, 'package-lock.json'));
  copyFileSync(path.join(ROOT, '.npmrc'), path.join(app, '.npmrc'));
  // --prefer-offline: the tarballs are in npm's cache since this checkout's own `npm install`.
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], app);
}, 180000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the production tree (packed, installed without dev dependencies)', () => {
  test('holds no demo code, no @medplum package and no package that only the dev dependencies need', () => {
    expect(existsSync(path.join(app, 'dist/cli.js'))).toBe(true);
    expect(existsSync(path.join(app, 'dist/devkit'))).toBe(false);
    expect(existsSync(path.join(app, 'src'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/@medplum'))).toBe(false);
    // npm records what it installed in node_modules/.package-lock.json; the root lock marks dev-only packages.
    const root = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const installed = Object.keys((JSON.parse(readFileSync(path.join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> }).packages);
    expect(installed.length).toBeGreaterThan(0);
    expect(installed.filter((p) => root.packages[p]?.dev === true)).toEqual([]);
    for (const name of Object.keys((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies)) {
      if (root.packages[`node_modules/${name}`]?.dev === true) expect(installed).not.toContain(`node_modules/${name}`);
    }
    // No compiled module names the demo or Medplum (a leftover import would fail only when reached).
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.js') && /from ['"](@medplum\/|[./]+devkit\/)|import\(['"](@medplum\/|[./]+devkit\/)/.test(readFileSync(p, 'utf8'))) offenders.push(path.relative(app, p));
      }
    };
    walk(path.join(app, 'dist'));
    expect(offenders).toEqual([]);
  });

  test('cannot start the demo', () => {
    const r = spawnSyncNode(['dist/cli.js', 'demo']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('the demo is a development tool, not part of the gateway');
    expect(existsSync(path.join(app, 'dist/devkit/main.js'))).toBe(false);
  });

  test('serves: becomes ready with the bundle it carries and answers a read', async () => {
    const fhir = await startFhirServer();
    await seedSyntheticData(fhir.repo);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}/fhir`;
    const issuer = await startTokenIssuer({ audience: base });
    let child: ChildProcessWithoutNullStreams | undefined;
    try {
      const config = path.join(tmp, 'gateway.yaml');
      // No policy.bundle: the default is the packed tree's own policies/dist/bundle.tar.gz.
      writeFileSync(config, `listen: { host: 127.0.0.1, port: ${port} }\npublicBaseUrl: ${base}\nupstream: { url: ${fhir.baseUrl} }\nauth: { issuer: ${issuer.issuer} }\naudit: { sinks: [ { type: stdout } ] }\nlog: { level: info }\n`);
      child = spawn(process.execPath, ['dist/cli.js', 'serve', '--config', config], { cwd: app, env: { ...process.env, NODE_ENV: 'production' } });
      child.stderr.pipe(createWriteStream(testLogFile('production-tree-serve')));
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child!.stderr.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('token signing keys loaded')) resolve();
        });
        child!.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
      });
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const token = await issuer.mint({ sub: 'Patient/pat-alba', scope: 'patient/*.rs', patient: 'pat-alba' });
      const res = await fetch(`${base}/Patient/pat-alba`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect((await jsonOf(res)).id).toBe('pat-alba');
    } finally {
      if (child) {
        const exited = new Promise((resolve) => child!.on('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await issuer.close();
      await fhir.close();
    }
  });
});

function spawnSyncNode(args: string[]): { status: number | null; stderr: string } {
  try {
    execFileSync(process.execPath, args, { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20000 });
    return { status: 0, stderr: '' };
  } catch (err) {
    const e = err as { status: number | null; stderr: string };
    return { status: e.status, stderr: e.stderr };
  }
}
