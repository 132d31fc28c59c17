import { acrValuesFor, assuranceOf, UNMAPPED } from '../../src/auth/assurance.js';
import { buildConfig } from '../../src/config/load.js';
import { assuranceMappingSchema } from '../../src/config/auth-schema.js';

const okta = assuranceMappingSchema.parse({ acr: { 'urn:okta:loa:1fa:pwd': 1, 'urn:okta:loa:2fa:any': 2 }, challenge: { '2': 'urn:okta:loa:2fa:any' } });
const entra = assuranceMappingSchema.parse({ contexts: { c1: 2, c2: 3 }, challenge: { '2': 'c1', '3': 'c2' } });

describe('assurance of the login', () => {
  test('acr is mapped per issuer; amr and auth_time are passed on', () => {
    expect(assuranceOf({ acr: 'urn:okta:loa:2fa:any', amr: ['pwd', 'otp'], auth_time: 1795514340 }, okta)).toEqual({ level: 2, methods: ['pwd', 'otp'], authenticated_at: 1795514340 });
    expect(assuranceOf({ acr: 'urn:okta:loa:1fa:pwd' }, okta)).toEqual({ level: 1, methods: [], authenticated_at: null });
  });

  test("an acr the issuer's mapping does not know, or another issuer's, is no level", () => {
    expect(assuranceOf({ acr: 'gold' }, okta).level).toBeNull();
    expect(assuranceOf({ acr: 'urn:okta:loa:2fa:any' }, UNMAPPED).level).toBeNull();
    expect(assuranceOf({ acr: 'toString' }, okta).level).toBeNull(); // no prototype lookups
  });

  test('Entra acrs: the highest mapped authentication context counts; a single string is accepted too', () => {
    expect(assuranceOf({ acrs: ['c9', 'c1'] }, entra).level).toBe(2);
    expect(assuranceOf({ acrs: ['c1', 'c2'] }, entra).level).toBe(3);
    expect(assuranceOf({ acrs: 'c1' }, entra).level).toBe(2);
  });

  test('malformed amr values and auth_time are dropped, and the list is bounded', () => {
    expect(assuranceOf({ amr: ['pwd', 'otp', 'otp', 'bad value"', 7, 'x'.repeat(65)] }, okta).methods).toEqual(['pwd', 'otp']);
    expect(assuranceOf({ amr: Array.from({ length: 40 }, (_, i) => `m${i}`) }, okta).methods).toHaveLength(16);
    for (const authTime of ['1795514340', -1, Number.NaN, null]) expect(assuranceOf({ auth_time: authTime }, okta).authenticated_at).toBeNull();
  });

  test('a challenge names the value for the level, or the lowest configured one above it, or none', () => {
    expect(acrValuesFor(okta, 2)).toBe('urn:okta:loa:2fa:any');
    expect(acrValuesFor(entra, 2)).toBe('c1');
    expect(acrValuesFor(okta, 1)).toBe('urn:okta:loa:2fa:any');
    expect(acrValuesFor(okta, 3)).toBeNull();
  });

  test('challenge values that would break the WWW-Authenticate header are refused at start-up', () => {
    const base = { publicBaseUrl: 'http://127.0.0.1:8080/fhir', upstream: { url: 'http://127.0.0.1:8103/fhir' } };
    for (const value of ['a"b', 'a\\b', ' lead', '']) {
      expect(() => buildConfig({ ...base, auth: { issuer: 'http://127.0.0.1:9000', assurance: { challenge: { '2': value } } } }, { env: {} })).toThrow(/auth\.assurance\.challenge\.2/);
    }
    expect(buildConfig({ ...base, auth: { issuer: 'http://127.0.0.1:9000', assurance: { challenge: { '2': 'c1 c2' } } } }, { env: {} }).auth.issuers[0]?.assurance.challenge).toEqual({ '2': 'c1 c2' });
  });
});
