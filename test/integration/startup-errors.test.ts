/**
 * Start-up failures are ConfigErrors that name the key to fix (the CLI exits 2 on them): what the
 * configuration names (key files, directories, sinks' secrets, Redis URLs, the listen port) is
 * checked when the gateway opens it. A JWKS that cannot be fetched at first start is logged with
 * its URL and cause, and says that there are no keys yet (not that "the last good keys" are used).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { freePort } from '../../src/devkit/ports.js';
import { startGateway } from '../../src/server.js';
import { testLogger, testLoggerWithFile } from '../support/logs.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-startup-'));
  writeFileSync(path.join(dir, 'a-file'), 'not a directory');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const minimal = async (): Promise<ConfigInput> => ({
  listen: { host: '127.0.0.1', port: await freePort() },
  publicBaseUrl: 'http://127.0.0.1/fhir',
  upstream: { url: 'http://127.0.0.1:9/fhir' },
  // Keys are fetched in the background: an unreachable IdP does not stop start-up.
  auth: { issuer: 'http://127.0.0.1:9', jwksUri: 'http://127.0.0.1:9/jwks' },
  audit: { sinks: [{ type: 'stdout' }] },
  log: { level: 'silent' },
});

async function startupKey(change: (c: ConfigInput) => ConfigInput, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const config = buildConfig(change(await minimal()), { env: {} });
  try {
    const gateway = await startGateway(config, { logger: testLogger('startup-errors'), env, auditStdout: devNull() });
    await gateway.close();
    return '(started)';
  } catch (err) {
    if (err instanceof ConfigError) return err.key;
    throw err;
  }
}

function devNull(): NodeJS.WritableStream {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

describe('start-up failures name their key', () => {
  test.each<[string, (c: ConfigInput) => ConfigInput, NodeJS.ProcessEnv, string]>([
    ['an unreadable audit.hmacKeyFile', (c) => ({ ...c, audit: { sinks: [{ type: 'stdout' }], hmacKeyFile: path.join(dir, 'missing-key') } }), {}, 'audit.hmacKeyFile'],
    ['a short key in audit.hmacKeyFile', (c) => ({ ...c, audit: { sinks: [{ type: 'stdout' }], hmacKeyFile: path.join(dir, 'a-file') } }), {}, 'audit.hmacKeyFile'],
    ['a short FHIRGW_AUDIT_HMAC_KEY', (c) => c, { FHIRGW_AUDIT_HMAC_KEY: 'short' }, 'FHIRGW_AUDIT_HMAC_KEY'],
    // The tests run as root, which no permission bit stops: a path under a regular file (ENOTDIR)
    // is a spool directory that cannot be created, as EACCES is for any other user.
    ['an audit.spool.dir that cannot be created', (c) => ({ ...c, audit: { sinks: [{ type: 'stdout' }], spool: { dir: path.join(dir, 'a-file', 'spool'), durability: 'async' } } }), {}, 'audit.spool.dir'],
    ['a file sink whose directory cannot be created', (c) => ({ ...c, audit: { sinks: [{ type: 'file', path: path.join(dir, 'a-file', 'audit.jsonl') }] } }), {}, 'audit.sinks.0.path'],
    ['an http sink whose authorizationEnv is not set', (c) => ({ ...c, audit: { sinks: [{ type: 'http', url: 'https://siem.example/x', authorizationEnv: 'SIEM_TOKEN' }] } }), {}, 'audit.sinks.0.authorizationEnv'],
    ['a redis sink with no server', (c) => ({ ...c, audit: { sinks: [{ type: 'stdout' }, { type: 'redis', stream: 'audit' }] } }), {}, 'audit.sinks.1'],
    ['hashed search values without the audit key', (c) => ({ ...c, audit: { sinks: [{ type: 'stdout' }], masking: { searchValues: 'hash' } } }), {}, 'audit.masking.searchValues'],
  ])('%s', async (_name, change, env, key) => {
    expect(await startupKey(change, env)).toBe(key);
  });

  test('a port in use names listen.port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      expect(await startupKey((c) => ({ ...c, listen: { host: '127.0.0.1', port } }))).toBe('listen.port');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  test('a Redis URL that is not a URL is refused when the file is read, naming redis.url', async () => {
    const doc = { ...(await minimal()), redis: { url: 'redis://bad host:port' } };
    expect(() => buildConfig(doc, { env: {} })).toThrow(expect.objectContaining({ key: 'redis.url' }));
  });
});

describe('unknown FHIRGW_* environment variables', () => {
  test('are warned about at start-up, by name (a misspelt override is not silently ignored)', async () => {
    const log = testLoggerWithFile('startup-env');
    const config = buildConfig(await minimal(), { env: {} });
    const gateway = await startGateway(config, { logger: log.logger, env: { FHIRGW_LISTEN_PROT: '8081', FHIRGW_LISTEN_PORT: '8081' }, auditStdout: devNull() });
    await gateway.close();
    const warning = log.lines().find((l) => String(l['msg']).startsWith('unknown FHIRGW_'));
    expect(warning).toMatchObject({ level: 40, variables: ['FHIRGW_LISTEN_PROT'] });
  });
});

describe('a JWKS that cannot be fetched at first start', () => {
  test('is logged with its URL and cause, as "no keys yet", never as "the last good keys stay in use"', async () => {
    const log = testLoggerWithFile('startup-jwks');
    const port = await freePort(); // nothing listens there
    const config = buildConfig({ ...(await minimal()), auth: { issuer: `http://127.0.0.1:${port}`, jwksUri: `http://127.0.0.1:${port}/keys` } }, { env: {} });
    const gateway = await startGateway(config, { logger: log.logger, env: {}, auditStdout: devNull() });
    try {
      const line = await waitForLine(log, (l) => l['msg'] !== undefined && String(l['msg']).startsWith('JWKS fetch'));
      expect(line).toMatchObject({ issuer: `http://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/keys`, cause: 'network (ECONNREFUSED)' });
      expect(String(line['msg'])).toContain('no keys yet');
      expect(log.lines().some((l) => String(l['msg']).includes('last good keys'))).toBe(false);
    } finally {
      await gateway.close();
    }
  });
});

/** Polls the log file until a line matches: the fetch happens in the background after start-up. */
async function waitForLine(log: ReturnType<typeof testLoggerWithFile>, match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const line = log.lines().find(match);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no such log line within 5 s');
}
