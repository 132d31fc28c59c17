import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { buildConfig, ConfigError, DEFAULT_POLICY_BUNDLE, ENV_OVERRIDES, loadConfigFile } from '../../src/config/load.js';

const minimal = {
  publicBaseUrl: 'https://fhir.example.org/fhir',
  upstream: { url: 'http://hapi:8080/fhir' },
  auth: { issuer: 'https://idp.example.org' },
};
const errorOf = (doc: unknown, env: NodeJS.ProcessEnv = {}): ConfigError => {
  try {
    buildConfig(doc, { env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('configuration', () => {
  test('defaults are filled in, audience defaults to publicBaseUrl, and the result is frozen', () => {
    const config = buildConfig(minimal, { env: {} });
    expect(config.auth.issuers).toHaveLength(1);
    expect(config.auth.issuers[0]!.audience).toEqual(['https://fhir.example.org/fhir']);
    expect(config.auth.issuers[0]!.algorithms).toEqual(['RS256', 'ES256']);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.policy.bundle).toBe(DEFAULT_POLICY_BUNDLE);
    expect(Object.isFrozen(config.upstream)).toBe(true);
    expect(() => {
      (config.upstream as { url: string }).url = 'http://evil';
    }).toThrow(TypeError);
  });

  test.each([
    [{ ...minimal, upstream: { url: 'http://hapi/fhir', timeoutMs: 'soon' } }, 'upstream.timeoutMs'],
    [{ ...minimal, upstream: { url: 'http://hapi/fhir', timeout: 5 } }, 'upstream.timeout'],
    [{ ...minimal, auth: { issuer: 'not a url' } }, 'auth.issuer'],
    [{ ...minimal, auth: { issuer: 'https://idp', algorithms: ['none'] } }, 'auth.algorithms.0'],
    [{ ...minimal, auth: { issuer: 'https://idp', algorithms: ['HS256'] } }, 'auth.algorithms.0'],
    [{ ...minimal, publicBaseUrl: 'https://fhir.example.org' }, 'publicBaseUrl'],
    [{ ...minimal, publicBaseUrl: 'https://fhir.example.org/metrics' }, 'publicBaseUrl'],
    [{ ...minimal, listen: { port: 70000 } }, 'listen.port'],
    [{ ...minimal, audit: { sinks: [{ type: 'kafka' }] } }, 'audit.sinks.0.type'],
    [{ ...minimal, typo: true }, 'typo'],
    [{ upstream: minimal.upstream, auth: minimal.auth }, 'publicBaseUrl'],
  ])('a bad document names the key: %j', (doc, key) => {
    expect(errorOf(doc).key).toBe(key);
  });

  test('environment variables override the file', () => {
    const config = buildConfig(minimal, { env: { FHIRGW_LISTEN_PORT: '9090', FHIRGW_UPSTREAM_URL: 'http://other:8080/fhir', FHIRGW_AUTH_AUDIENCE: 'aud-1' } });
    expect(config.listen.port).toBe(9090);
    expect(config.upstream.url).toBe('http://other:8080/fhir');
    expect(config.auth.issuers[0]!.audience).toEqual(['aud-1']);
  });

  test('a non-numeric numeric override names the key', () => {
    expect(errorOf(minimal, { FHIRGW_LISTEN_PORT: 'eighty' }).key).toBe('listen.port');
  });

  test('the shipped config/gateway.yaml is valid', () => {
    const config = loadConfigFile('config/gateway.yaml', { env: {} });
    expect(config.publicBaseUrl).toBe('https://fhir.hospital.example/fhir');
  });

  test('a YAML syntax error and duplicate keys are reported, not guessed', () => {
    expect(() => buildConfig(null)).toThrow(ConfigError);
    expect(() => loadConfigFile('/nonexistent/gateway.yaml')).toThrow(/cannot read/);
  });

  test('README documents every environment override', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const { env, key } of ENV_OVERRIDES) expect(readme).toMatch(new RegExp(`\\| \`${env}\` \\| \`${key.replace('.', '\\.')}\` \\|`));
  });
});
