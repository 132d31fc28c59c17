import { buildConfig } from '../../src/config/load.js';
import { createCors } from '../../src/http/cors.js';

const cors = createCors({ allowedOrigins: ['https://app.example', 'http://127.0.0.1:3000'], maxAgeSeconds: 600 });

describe('CORS answers', () => {
  test('an allowed origin gets its own origin back (never *), exposed headers, and no credentials', () => {
    const answer = cors('GET', { origin: 'https://app.example' });
    expect(answer.kind).toBe('actual');
    expect(answer.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(answer.headers['access-control-expose-headers']?.split(', ')).toEqual(expect.arrayContaining(['Location', 'ETag', 'Content-Location', 'WWW-Authenticate', 'X-Request-Id']));
    expect(answer.headers['access-control-allow-credentials']).toBeUndefined();
    expect(answer.headers['vary']).toBe('Origin');
  });

  test('a preflight from an allowed origin is answered with methods, headers and max age', () => {
    const answer = cors('OPTIONS', { origin: 'http://127.0.0.1:3000', 'access-control-request-method': 'PUT' });
    expect(answer.kind).toBe('preflight');
    expect(answer.headers['access-control-max-age']).toBe('600');
  });

  test('origins are matched exactly: another port, scheme, case, a suffix or null get no CORS header', () => {
    for (const origin of ['https://app.example:8443', 'http://app.example', 'https://APP.example', 'https://app.example.evil', 'null', 'https://evil.example']) {
      const answer = cors('OPTIONS', { origin, 'access-control-request-method': 'GET' });
      expect([origin, answer.kind, Object.keys(answer.headers)]).toEqual([origin, 'none', ['vary']]);
    }
  });

  test('an OPTIONS without Access-Control-Request-Method is not a preflight', () => {
    expect(cors('OPTIONS', { origin: 'https://app.example' }).kind).toBe('actual');
  });

  test('without configured origins nothing is added, not even Vary', () => {
    expect(createCors({ allowedOrigins: [], maxAgeSeconds: 600 })('GET', { origin: 'https://app.example' })).toEqual({ kind: 'none', headers: {} });
  });
});

describe('cors configuration', () => {
  const base = { publicBaseUrl: 'http://127.0.0.1:8080/fhir', upstream: { url: 'http://127.0.0.1:8103/fhir' }, auth: { issuer: 'http://127.0.0.1:9000' } };
  test.each(['*', 'https://app.example/', 'https://app.example/path', 'app.example', 'ftp://app.example', 'https://*.example'])('refuses %s as an origin', (origin) => {
    expect(() => buildConfig({ ...base, cors: { allowedOrigins: [origin] } }, { env: {} })).toThrow(/cors\.allowedOrigins\.0/);
  });

  test('accepts exact origins, and defaults to none', () => {
    expect(buildConfig({ ...base, cors: { allowedOrigins: ['https://app.example', 'http://localhost:3000'] } }, { env: {} }).cors.allowedOrigins).toHaveLength(2);
    expect(buildConfig(base, { env: {} }).cors).toEqual({ allowedOrigins: [], maxAgeSeconds: 600 });
  });
});
