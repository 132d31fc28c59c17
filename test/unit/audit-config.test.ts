/** The audit section of the configuration, the audit key, and search-value masking. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { createParamMasker } from '../../src/audit/mask.js';
import { loadAuditKey } from '../../src/audit/open.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { sinkNameOf } from '../../src/config/schema.js';

const minimal = { publicBaseUrl: 'https://h/fhir', upstream: { url: 'http://u/fhir' }, auth: { issuer: 'https://idp' } };
const keyOf = (doc: object, env: NodeJS.ProcessEnv = {}): string => {
  try {
    buildConfig({ ...minimal, ...doc }, { env, baseDir: '/etc/gw' });
  } catch (err) {
    if (err instanceof ConfigError) return err.key;
    throw err;
  }
  return '(valid)';
};

describe('audit configuration', () => {
  test('a postgres sink names exactly one of url (without a password), urlEnv and embedded; one store at most', () => {
    const sinks = (...list: object[]) => ({ audit: { sinks: list } });
    expect(keyOf(sinks({ type: 'postgres', url: 'postgres://gw@db/audit' }))).toBe('(valid)');
    expect(keyOf(sinks({ type: 'postgres', urlEnv: 'FHIRGW_AUDIT_DB_URL' }))).toBe('(valid)');
    expect(keyOf(sinks({ type: 'postgres', embedded: { dir: '/var/lib/gw' } }))).toBe('(valid)');
    expect(keyOf(sinks({ type: 'postgres', url: 'postgres://gw:secret@db/audit' }))).toBe('audit.sinks.0.url');
    expect(keyOf(sinks({ type: 'postgres' }))).toBe('audit.sinks.0');
    expect(keyOf(sinks({ type: 'postgres', url: 'postgres://gw@db/a', embedded: { dir: '/x' } }))).toBe('audit.sinks.0');
    expect(keyOf(sinks({ type: 'postgres', name: 'a', url: 'postgres://gw@db/a' }, { type: 'postgres', name: 'b', url: 'postgres://gw@db/b' }))).toBe('audit.sinks');
    const config = buildConfig({ ...minimal, ...sinks({ type: 'postgres', url: 'postgres://gw@db/audit' }) }, { env: {} });
    expect(config.audit.sinks[0]).toMatchObject({ poolSize: 4, retentionMonths: 72 });
    // An embedded store's directory is resolved against the config file, like the spool's.
    const embedded = buildConfig({ ...minimal, ...sinks({ type: 'postgres', embedded: { dir: 'store' } }) }, { env: {}, baseDir: '/etc/gw' });
    expect(embedded.audit.sinks[0]).toMatchObject({ embedded: { dir: '/etc/gw/store' } });
  });

  test('the default is one stdout sink, masking search values, without a spool', () => {
    const config = buildConfig(minimal, { env: {} });
    expect(config.audit.sinks).toEqual([{ type: 'stdout', format: 'record' }]);
    expect(config.audit.masking.searchValues).toBe('remove');
    expect(config.audit.spool).toBeUndefined();
  });

  test('paths are resolved against the config file, and the spool can be set from the environment', () => {
    const config = buildConfig({ ...minimal, audit: { sinks: [{ type: 'file', path: 'log/a.jsonl' }], spool: { dir: 'spool' }, hmacKeyFile: 'key' } }, { env: {}, baseDir: '/etc/gw' });
    expect(config.audit.sinks[0]).toMatchObject({ path: '/etc/gw/log/a.jsonl' });
    expect(config.audit.spool).toMatchObject({ dir: '/etc/gw/spool', durability: 'durable' });
    expect(config.audit.hmacKeyFile).toBe('/etc/gw/key');
    const fromEnv = buildConfig({ ...minimal, audit: { sinks: [{ type: 'stdout' }] } }, { env: { FHIRGW_AUDIT_SPOOL_DIR: '/var/spool/gw', FHIRGW_AUDIT_DURABILITY: 'async' } });
    expect(fromEnv.audit.spool).toMatchObject({ dir: '/var/spool/gw', durability: 'async' });
  });

  test.each([
    [{ audit: { sinks: [{ type: 'file', path: 'a', name: 'x' }, { type: 'stdout', name: 'x' }] } }, 'audit.sinks.1.name'],
    [{ audit: { sinks: [{ type: 'stdout' }], spool: { durability: 'durable' } } }, 'audit.spool.dir'],
    [{ audit: { sinks: [{ type: 'stdout' }], hmacKey: 'secret-in-yaml' } }, 'audit.hmacKey'],
    [{ audit: { sinks: [{ type: 'http', url: 'https://user:pw@siem/x' }] } }, 'audit.sinks.0.url'],
    [{ audit: { sinks: [{ type: 'http', url: 'https://siem/x', authorizationEnv: 'Bearer abc' }] } }, 'audit.sinks.0.authorizationEnv'],
    [{ audit: { sinks: [{ type: 'redis', stream: 's', sentinel: { name: 'm', nodes: ['h:1'] }, cluster: { nodes: ['h:1'] } }] } }, 'audit.sinks.0'],
    [{ audit: { sinks: [{ type: 'stdout', format: 'xml' }] } }, 'audit.sinks.0.format'],
    [{ audit: { sinks: [] } }, 'audit.sinks'],
  ])('a bad audit section names the key: %j', (doc, key) => {
    expect(keyOf(doc)).toBe(key);
  });

  test('sinks are named by type, by position when a type repeats', () => {
    const sinks = [{ type: 'file' }, { type: 'file' }, { type: 'redis' }, { type: 'http', name: 'splunk' }];
    expect(sinks.map((s, i) => sinkNameOf(s, i, sinks))).toEqual(['file-1', 'file-2', 'redis', 'splunk']);
  });

  test('the audit key comes from the environment first, then the key file; short keys are refused', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-key-'));
    try {
      const file = path.join(dir, 'key');
      writeFileSync(file, 'k'.repeat(40) + '\n');
      expect(loadAuditKey({ hmacKeyFile: file }, {})?.toString()).toBe('k'.repeat(40));
      expect(loadAuditKey({ hmacKeyFile: file }, { FHIRGW_AUDIT_HMAC_KEY: 'e'.repeat(32) })?.toString()).toBe('e'.repeat(32));
      expect(loadAuditKey({}, {})).toBeNull();
      expect(() => loadAuditKey({}, { FHIRGW_AUDIT_HMAC_KEY: 'short' })).toThrow(/at least 32 bytes/);
      expect(() => loadAuditKey({ hmacKeyFile: path.join(dir, 'missing') }, {})).toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('search values: removed by default, kept for listed controls, hashed with the key (never without one)', () => {
    const param = (name: string, value: string) => ({ name, modifier: null, value, values: [value] });
    const remove = createParamMasker({ searchValues: 'remove', keepValuesOf: ['_count'] }, null);
    expect(remove(param('family', 'Quintero-Zeta'))).toEqual({ name: 'family', modifier: null, value: null, mask: 'removed' });
    expect(remove(param('_count', '10'))).toEqual({ name: '_count', modifier: null, value: '10', mask: 'kept' });
    const key = Buffer.from('k'.repeat(32));
    const hash = createParamMasker({ searchValues: 'hash', keepValuesOf: [] }, key);
    const a = hash(param('identifier', 'MRN-700101'));
    expect(a.mask).toBe('hashed');
    expect(a.value).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(hash(param('identifier', 'MRN-700101')).value).toBe(a.value); // correlatable
    expect(hash(param('identifier', 'MRN-700102')).value).not.toBe(a.value);
    expect(() => createParamMasker({ searchValues: 'hash', keepValuesOf: [] }, null)).toThrow(expect.objectContaining({ name: 'ConfigError', key: 'audit.masking.searchValues' }));
  });
});
