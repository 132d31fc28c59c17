import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { ERROR_CATALOGUE, GatewayError, operationOutcomeFor, asGatewayError } from '../../src/errors.js';

describe('error catalogue', () => {
  test('docs/errors.md lists every code with its status, issue type and text, and nothing else', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| `([a-z-]+)` \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3], m[4]]);
    const expected = Object.entries(ERROR_CATALOGUE).map(([code, s]) => [code, s.status, s.issue, s.text]);
    expect(rows).toEqual(expected);
  });

  test('an unknown error becomes `internal` and its message never reaches the OperationOutcome', () => {
    const err = asGatewayError(new Error('SELECT * FROM patients WHERE name = "Zeta" at /srv/app.js:12'));
    expect(err.code).toBe('internal');
    const oo = JSON.stringify(operationOutcomeFor(err, 'req-1'));
    expect(oo).not.toContain('SELECT');
    expect(oo).not.toContain('app.js');
  });

  test('the OperationOutcome carries the error code and the reasons as codings', () => {
    const oo = operationOutcomeFor(new GatewayError('forbidden', { reasons: ['compartment.other-patient'] }), 'req-2');
    expect(oo).toEqual({
      resourceType: 'OperationOutcome',
      id: 'req-2',
      issue: [{
        severity: 'error',
        code: 'forbidden',
        details: {
          coding: [
            { system: 'https://fhir-privacy-gateway.dev/CodeSystem/error', code: 'forbidden' },
            { system: 'https://fhir-privacy-gateway.dev/CodeSystem/reason', code: 'compartment.other-patient' },
          ],
          text: 'Access denied by policy.',
        },
      }],
    });
  });
});
