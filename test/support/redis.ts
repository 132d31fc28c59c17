/**
 * A real redis-server for a test: started on a free port, and stopped, killed or restarted by the
 * test (fault tests kill it mid-burst). By default nothing is persisted; with `persist` it keeps an
 * append-only file fsynced on every write (in a temporary directory), so a SIGKILL loses nothing
 * Redis acknowledged, as a production audit Redis would be configured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/devkit/ports.js';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: the server vanishes without closing connections cleanly. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty unless started with `persist`). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  readonly persist?: boolean;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const dir = options.persist ? mkdtempSync(path.join(os.tmpdir(), 'fhirgw-redis-')) : null;
  const persistence = dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no'];

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}: ${out}`)), 10000);
      const poll = setInterval(() => {
        // Ready when it accepts a connection.
        import('node:net').then(({ connect }) => {
          const s = connect(port, '127.0.0.1');
          s.once('connect', () => {
            s.end();
            clearInterval(poll);
            clearTimeout(timer);
            resolve();
          });
          s.once('error', () => s.destroy());
        });
      }, 25);
      proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
      proc.once('exit', (code) => {
        if (code !== null && code !== 0) {
          clearInterval(poll);
          clearTimeout(timer);
          reject(new Error(`redis-server exited ${code}: ${out}`));
        }
      });
    });

  const stopWith = (signal: NodeJS.Signals): Promise<void> =>
    new Promise((resolve) => {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => stopWith('SIGKILL'),
    restart: launch,
    stop: async () => {
      await stopWith('SIGTERM');
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
