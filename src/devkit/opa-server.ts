/**
 * An OPA server (`opa run --server`) on loopback evaluating the gateway's policies as a sidecar
 * deployment does: a bundle built from the same Rego sources and data (policies/), evaluated by
 * OPA's own Rego interpreter. (The shipped WebAssembly bundle cannot serve: `opa build -t wasm`
 * leaves the entrypoint rules out of the Rego it carries.) For the benchmark and its tests; the
 * gateway itself never talks to an OPA server.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export interface RunningOpaServer {
  /** e.g. http://127.0.0.1:8181 */
  readonly url: string;
  readonly pid: number;
  close(): Promise<void>;
}

/** Files of policies/ that are not policy: tests and the compiled bundle (as scripts/policies.mjs builds). */
const IGNORE = ['--ignore', '*_test.rego', '--ignore', 'dist', '--ignore', 'tests'];

export async function startOpaServer(options: { readonly opa: string; readonly policies: string; readonly port?: number }): Promise<RunningOpaServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-opa-server-'));
  const bundle = path.join(dir, 'bundle.tar.gz');
  execFileSync(options.opa, ['build', ...IGNORE, '-o', bundle, '.'], { cwd: options.policies, stdio: 'pipe' });
  const port = options.port ?? (await freePort());
  const child = spawn(options.opa, ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', '--skip-version-check', '--bundle', bundle], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`opa run exited with ${child.exitCode}: ${stderr}`);
    }
    // `?bundles` would wait for bundle plugins; the policies here are loaded from files before listening.
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`opa run did not become healthy: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, pid: child.pid as number, close };
}
