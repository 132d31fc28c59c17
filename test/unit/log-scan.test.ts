import { describe, expect, test } from '@jest/globals';
import { scanText, seededNeedles } from '../../scripts/lib/log-scan.mjs';
import { SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER } from '../../src/devkit/synthetic-data.js';

const needles = seededNeedles(SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER);
const clean = JSON.stringify({ level: 30, requestId: 'r-1', traceId: 'a'.repeat(32), interaction: 'read', type: 'Patient', status: 200, msg: 'request' });

describe('the log scanner behind npm run check:logs', () => {
  test('passes a clean request line', () => {
    expect(scanText(`${clean}\n`, needles)).toEqual([]);
  });

  test.each([
    ['family name', 'Quintero-Zeta', 'pat-alba family name'],
    ['given name', 'Bruno', 'pat-bruno given name'],
    ['MRN', 'MRN-700303', 'pat-chen MRN'],
    ['phone', '+1-555-0202', 'pat-bruno phone'],
    ['birth date', '1961-03-14', 'pat-alba birth date'],
    ['practitioner', 'Hollis', 'practitioner family name'],
  ])('catches a planted %s', (_what, value, name) => {
    const planted = JSON.stringify({ level: 50, msg: 'upstream failed', detail: `name=${value}` });
    expect(scanText(`${clean}\n${planted}\n`, needles)).toEqual([{ line: 2, what: name }]);
  });

  test('catches token-shaped strings: a JWT, a bearer and a DPoP credential', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJQYXRpZW50L3BhdC1hbGJhIn0.c2lnbmF0dXJl';
    const lines = [JSON.stringify({ token: jwt }), 'authorization: Bearer 2YotnFZFEjr1zCsicMWpAA', '{"h":"DPoP Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"}'];
    expect(scanText(lines.join('\n'), needles).map((f) => f.what)).toEqual(['jwt', 'bearer credential', 'bearer credential']);
  });

  test('matches whole words only: an id like pat-alba or a longer number is not a hit', () => {
    expect(scanText('{"ref":"Patient/pat-alba","n":"MRN-7001010"}', needles)).toEqual([]);
  });
});
