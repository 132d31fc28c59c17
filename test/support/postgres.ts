/**
 * A real PostgreSQL server for a test: a throwaway cluster (initdb in a temporary directory) started
 * on a free port, and stopped, killed or restarted by the test (fault tests kill it mid-burst).
 *
 * The binaries are Debian's (/usr/lib/postgresql/<version>/bin, the newest installed) or the PATH's;
 * .ci/run installs the `postgresql` package where it is missing. PostgreSQL refuses to run as root,
 * so as root the cluster belongs to the `postgres` user the package creates. `kill()` SIGKILLs the
 * postmaster's whole process group (postmaster and backends at once, as a machine crash would); the
 * next start runs crash recovery from the WAL, so nothing a commit acknowledged is lost.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/devkit/ports.js';

export interface PostgresServer {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication on the loopback). */
  readonly url: string;
  /** SIGKILL of the postmaster and its backends. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
  /** Fast shutdown, then the data directory is removed. */
  stop(): Promise<void>;
}

/** The directory of initdb and postgres: the newest /usr/lib/postgresql/<v>/bin, else the PATH. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  try {
    return path.dirname(execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
}

function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error('PostgreSQL is not installed: .ci/run installs Debian\'s postgresql package');
  const user = runAs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-pg-'));
  const data = path.join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { stdio: 'pipe', cwd: dir, ...ids });
  const port = await freePort();
  let child: ChildProcess | null = null;

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      // Its own process group, so kill() takes the backends with the postmaster. Sockets in the
      // temporary directory only: the test talks TCP on the loopback.
      const proc = spawn(
        path.join(bin, 'postgres'),
        ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=50', '-c', 'shared_buffers=32MB', '-c', 'log_min_messages=warning'],
        { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: dir, ...ids },
      );
      child = proc;
      let out = '';
      let settled = false;
      const done = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearInterval(poll);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => done(new Error(`postgres did not start on ${port}: ${out}`)), 30000);
      const poll = setInterval(() => {
        // Ready when it accepts queries (pg_isready), not merely connections: recovery may be running.
        const check = spawn(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-q'], { stdio: 'ignore' });
        check.once('exit', (code) => {
          if (code === 0) done();
        });
      }, 100);
      proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
      proc.once('exit', (code) => done(new Error(`postgres exited ${code}: ${out}`)));
    });

  const stopWith = (signal: NodeJS.Signals, group: boolean): Promise<void> =>
    new Promise((resolve) => {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return resolve();
      proc.removeAllListeners('exit');
      proc.once('exit', () => resolve());
      if (group) process.kill(-proc.pid, signal);
      else proc.kill(signal);
    });

  await launch();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kill: async () => {
      await stopWith('SIGKILL', true);
      // The backends of the group die with it; wait until the port is free for the restart.
      const pid = (child as ChildProcess | null)?.pid;
      for (let i = 0; i < 100 && pid !== undefined && groupAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    },
    restart: launch,
    stop: async () => {
      // SIGINT: fast shutdown (disconnects clients, checkpoints).
      await stopWith('SIGINT', false);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
