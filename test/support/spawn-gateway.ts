/**
 * A gateway as operators run it: `node dist/cli.js serve --config <file>` in its own process (npm
 * test builds dist/ first). Its log goes to .tmp/test-logs (scanned by check:logs); the test sends
 * it signals and watches it exit.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { testLogFile } from './logs.js';

const CLI = path.resolve('dist/cli.js');

export interface SpawnedGateway {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the exit code (null when killed by a signal) and the time of exit. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Everything it wrote to stderr and stdout so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

/** Writes `yaml` to `<dir>/<name>.yaml`, starts `serve` on it and waits until its token keys are loaded. */
export async function spawnGateway(dir: string, name: string, yaml: string, env: NodeJS.ProcessEnv = {}): Promise<SpawnedGateway> {
  const config = path.join(dir, `${name}.yaml`);
  writeFileSync(config, yaml);
  const child = spawn('node', [CLI, 'serve', '--config', config], { env: { ...process.env, ...env } });
  child.stderr.pipe(createWriteStream(testLogFile(name)));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway ${name} not ready:\n${out}`)), 20000);
    const poll = setInterval(() => {
      if (out.includes('token signing keys loaded')) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      }
    }, 20);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`gateway ${name} exited ${code}:\n${out}`));
    });
  });
  return {
    child,
    exited,
    output: () => out,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
