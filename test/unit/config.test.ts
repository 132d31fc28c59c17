import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { buildConfig, ConfigError, DEFAULT_POLICY_BUNDLE, ENV_OVERRIDES, loadConfigFile, unknownEnvironmentVariables } from '../../src/config/load.js';

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

describe('auth configuration', () => {
  const base = { publicBaseUrl: 'https://fhir.example.org/fhir', upstream: { url: 'http://hapi:8080/fhir' } };

  test('several issuers, each with its own audience, algorithms, claim mapping and verification', () => {
    const config = buildConfig(
      {
        ...base,
        auth: {
          issuers: [
            { issuer: 'https://kc.example/realms/clinical', typ: 'at+jwt', claims: { roles: 'realm_access.roles' } },
            { issuer: 'https://login.microsoftonline.com/t/v2.0', audience: ['api://fhir', 'https://fhir.example.org/fhir'], algorithms: ['RS256'], claims: { roles: 'groups', tenant: 'tid' } },
            { issuer: 'https://opaque.example', introspection: { endpoint: 'https://opaque.example/introspect', clientId: 'gw', clientSecretEnv: 'OPAQUE_SECRET' } },
          ],
        },
      },
      { env: {} },
    );
    const [kc, entra, opaque] = config.auth.issuers;
    expect(kc).toMatchObject({ audience: ['https://fhir.example.org/fhir'], algorithms: ['RS256', 'ES256'], typ: 'at+jwt', claims: { roles: 'realm_access.roles', scope: 'scope' } });
    expect(entra).toMatchObject({ audience: ['api://fhir', 'https://fhir.example.org/fhir'], algorithms: ['RS256'], claims: { roles: 'groups', tenant: 'tid' } });
    expect(opaque!.introspection).toMatchObject({ clientId: 'gw', authMethod: 'client_secret_basic', cacheSeconds: 300 });
  });

  test.each([
    [{ issuer: 'https://idp', issuers: [{ issuer: 'https://other' }] }, 'auth.issuer'],
    [{ algorithms: ['RS256'], issuers: [{ issuer: 'https://other' }] }, 'auth.algorithms'],
    [{ issuers: [{ issuer: 'https://a' }, { issuer: 'https://a' }] }, 'auth.issuers.1.issuer'],
    [{ issuers: [] }, 'auth.issuers'],
    [{}, 'auth.issuer'],
    [{ issuer: 'https://idp', introspection: { endpoint: 'https://idp/introspect', clientId: 'gw' } }, 'auth.introspection.clientSecretFile'],
    [{ issuer: 'https://idp', introspection: { endpoint: 'https://idp/introspect', clientId: 'gw', clientSecret: 'inline' } }, 'auth.introspection.clientSecret'],
    [{ issuer: 'https://idp', jwksUri: 'https://idp/jwks', introspection: { endpoint: 'https://idp/i', clientId: 'gw', clientSecretEnv: 'S' } }, 'auth.jwksUri'],
    [{ issuers: [1, 2].map((n) => ({ issuer: `https://i${n}`, introspection: { endpoint: `https://i${n}/i`, clientId: 'gw', clientSecretEnv: 'S' } })) }, 'auth.issuers'],
    [{ issuer: 'https://idp', typ: 'JWT' }, 'auth.typ'],
    [{ issuer: 'https://idp', algorithms: ['HS512'] }, 'auth.algorithms.0'],
    [{ issuer: 'https://idp', dpop: { algorithms: ['none'] } }, 'auth.dpop.algorithms.0'],
    [{ issuer: 'https://idp', discovery: { issuer: 'https://not-configured' } }, 'auth.discovery.issuer'],
  ])('a bad auth section names the key: %j', (auth, key) => {
    expect(errorOf({ ...base, auth }).key).toBe(key);
  });

  test('an environment override of auth.issuer conflicts with a file that lists auth.issuers', () => {
    expect(errorOf({ ...base, auth: { issuers: [{ issuer: 'https://a' }] } }, { FHIRGW_AUTH_ISSUER: 'https://b' }).key).toBe('auth.issuer');
  });
});

describe('secrets', () => {
  const base = { publicBaseUrl: 'https://fhir.example.org/fhir', upstream: { url: 'http://hapi:8080/fhir' } };
  const withIntrospection = (ref: Record<string, string>) =>
    buildConfig({ ...base, auth: { issuer: 'https://idp', introspection: { endpoint: 'https://idp/i', clientId: 'gw', ...ref } } }, { env: {} });

  test('come from the named environment variable or file, never the document', async () => {
    const { readSecrets } = await import('../../src/config/secrets.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(`${(await import('node:os')).tmpdir()}/fhirgw-secret-`);
    writeFileSync(`${dir}/secret`, 's3cret\n');
    expect(readSecrets(withIntrospection({ clientSecretEnv: 'MY_SECRET' }), { MY_SECRET: 'from-env' }).introspection.get('https://idp')).toBe('from-env');
    expect(readSecrets(withIntrospection({ clientSecretFile: `${dir}/secret` }), {}).introspection.get('https://idp')).toBe('s3cret');
    expect(() => readSecrets(withIntrospection({ clientSecretEnv: 'MY_SECRET' }), {})).toThrow(ConfigError);
    expect(readSecrets(buildConfig({ ...base, auth: { issuer: 'https://idp' } }, { env: {} }), {}).adminToken).toBeNull();
    expect(readSecrets(buildConfig({ ...base, auth: { issuer: 'https://idp' } }, { env: {} }), { FHIRGW_ADMIN_TOKEN: 'x'.repeat(40) }).adminToken).toBe('x'.repeat(40));
    try {
      readSecrets(buildConfig({ ...base, auth: { issuer: 'https://idp' } }, { env: {} }), { FHIRGW_ADMIN_TOKEN: 'short' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).key).toBe('FHIRGW_ADMIN_TOKEN');
      expect((err as Error).message).not.toContain('short');
    }
  });
});

describe('every problem at once', () => {
  const base = { publicBaseUrl: 'https://h/fhir', upstream: { url: 'http://u/fhir' }, auth: { issuer: 'https://idp' } };
  const problemsOf = (doc: object, env: NodeJS.ProcessEnv = {}): Array<{ key: string; problem: string }> => {
    try {
      buildConfig(doc, { env });
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems];
      throw err;
    }
    return [];
  };

  test('schema problems, unknown keys, bad overrides and cross-field rules are all reported, each with its key', () => {
    const problems = problemsOf(
      { ...base, upstream: { url: 'http://u/fhir', timeoutMS: 5, maxResponseBytes: 'big' }, listen: { prot: 1 }, log: { level: 'loud' } },
      { FHIRGW_UPSTREAM_TIMEOUT_MS: 'soon' },
    );
    expect(problems.map((p) => p.key).sort()).toEqual(['listen.prot', 'log.level', 'upstream.maxResponseBytes', 'upstream.timeoutMS', 'upstream.timeoutMs'].sort());
    const err = (() => {
      try {
        buildConfig({ ...base, publicBaseUrl: 'https://h/', upstream: { url: 'http://u/fhir', forwardClientToken: true, auth: { type: 'bearer', tokenEnv: 'T' } } }, { env: {} });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err.problems.map((p) => p.key)).toEqual(['upstream.forwardClientToken', 'publicBaseUrl']);
    expect(err.message).toMatch(/^invalid configuration \(2 problems\):\n {2}- upstream\.forwardClientToken: .*\n {2}- publicBaseUrl: /);
  });

  test('an audit section without sinks gets the documented default sink', () => {
    const config = buildConfig({ ...base, audit: { spool: { dir: '/var/spool/gw', durability: 'async' } } }, { env: {} });
    expect(config.audit.sinks).toEqual([{ type: 'stdout', format: 'record' }]);
    expect(config.audit.spool).toMatchObject({ dir: '/var/spool/gw', durability: 'async' });
    expect(problemsOf({ ...base, audit: { sinks: [] } }).map((p) => p.key)).toEqual(['audit.sinks']);
  });

  test('unknown FHIRGW_* variables are found: not the overrides, the secrets, what the configuration names or Kubernetes service links', () => {
    const config = buildConfig({ ...base, audit: { sinks: [{ type: 'http', url: 'https://siem/x', authorizationEnv: 'FHIRGW_SPLUNK_AUTH' }] } }, { env: {} });
    // FHIRGW_SERVICE_HOST, FHIRGW_PORT_8080_TCP: what Kubernetes injects for a Service named fhirgw.
    const env = { FHIRGW_LISTEN_PROT: '9', FHIRGW_LISTEN_PORT: '9', FHIRGW_AUDIT_HMAC_KEY: 'k', FHIRGW_SPLUNK_AUTH: 'Splunk x', FHIRGW_CURSOR_KEYS: 'x', HOME: '/root', FHIRGW_SERVICE_HOST: '10.0.0.1', FHIRGW_PORT_8080_TCP: 'tcp://10.0.0.1:8080' };
    expect(unknownEnvironmentVariables(env, config)).toEqual(['FHIRGW_CURSOR_KEYS', 'FHIRGW_LISTEN_PROT']);
  });
});
