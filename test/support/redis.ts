/**
 * A real redis-server for a test: started on a free port, and stopped, killed or restarted by the
 * test (fault tests kill it mid-burst). By default nothing is persisted; with `persist` it keeps an
 * append-only file fsynced on every write (in a temporary directory), so a SIGKILL loses nothing
 * Redis acknowledged, as a production audit Redis would be configured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** A process the test owns; stopped with SIGKILL at the end. */
function owned(args: string[], cwd: string): { stop: () => Promise<void> } {
  const proc = spawn('redis-server', args, { cwd, stdio: 'ignore' });
  return {
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}

async function waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function command(port: number, ...args: string[]): Promise<string> {
  const { Redis } = await import('ioredis');
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return String(await client.call(args[0]!, ...args.slice(1)));
  } finally {
    client.disconnect();
  }
}

/** A one-node Redis Cluster owning every slot: real cluster protocol (MOVED, CLUSTER SLOTS) on one process. */
export async function startRedisCluster(): Promise<{ readonly node: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-redis-cluster-'));
  const proc = owned(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--dir', dir, '--loglevel', 'warning'], dir);
  await waitFor(async () => (await command(port, 'PING')) === 'PONG', 'the cluster node');
  await command(port, 'CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await waitFor(async () => (await command(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'), 'cluster_state:ok');
  return {
    node: `127.0.0.1:${port}`,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Sentinel monitoring `primary` under the name `name`. */
export async function startRedisSentinel(primary: RedisServer, name: string): Promise<{ readonly node: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-redis-sentinel-'));
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\nsentinel monitor ${name} 127.0.0.1 ${primary.port} 1\n`);
  const proc = owned([conf, '--sentinel'], dir);
  await waitFor(async () => (await command(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).includes(String(primary.port)), 'the sentinel');
  return {
    node: `127.0.0.1:${port}`,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
