import { describe, expect, test } from '@jest/globals';
import { classify, withFormParams, withIfNoneExist } from '../../src/fhir/classify.js';
import { GatewayError } from '../../src/errors.js';
import { upstreamPathOf } from '../../src/fhir/upstream-path.js';

const options = { basePath: '/fhir', pagingParameters: new Set(['_offset', '_getpages']) };
const c = (method: string, target: string) => classify(method, target, options);
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return `${err.code}${err.reasons.length ? `:${err.reasons.join(',')}` : ''}`;
    throw err;
  }
  return 'no error';
};
const parameterOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err.parameter;
    throw err;
  }
  throw new Error('no error');
};

describe('classify: interactions', () => {
  test.each([
    ['GET', '/fhir/metadata', { interaction: 'capabilities', type: null }],
    ['GET', '/fhir', { interaction: 'search-system' }],
    ['GET', '/fhir/?_type=Patient', { interaction: 'search-system' }],
    ['POST', '/fhir', { interaction: 'batch' }],
    ['GET', '/fhir/_history', { interaction: 'history-system' }],
    ['GET', '/fhir/Patient', { interaction: 'search-type', type: 'Patient' }],
    ['POST', '/fhir/Patient/_search', { interaction: 'search-type', type: 'Patient' }],
    ['POST', '/fhir/Patient', { interaction: 'create', type: 'Patient' }],
    ['GET', '/fhir/Patient/_history', { interaction: 'history-type', type: 'Patient' }],
    ['GET', '/fhir/Patient/123', { interaction: 'read', type: 'Patient', id: '123' }],
    ['PUT', '/fhir/Patient/123', { interaction: 'update', type: 'Patient', id: '123' }],
    ['PATCH', '/fhir/Patient/123', { interaction: 'patch', type: 'Patient', id: '123' }],
    ['DELETE', '/fhir/Patient/123', { interaction: 'delete', type: 'Patient', id: '123' }],
    ['PUT', '/fhir/Patient?identifier=x', { interaction: 'update', type: 'Patient', id: null }],
    ['GET', '/fhir/Patient/123/_history', { interaction: 'history-instance', id: '123' }],
    ['GET', '/fhir/Patient/123/_history/7', { interaction: 'vread', id: '123', version: '7' }],
    ['GET', '/fhir/Patient/123/Observation', { interaction: 'search-compartment', type: 'Observation', compartment: { type: 'Patient', id: '123' } }],
    ['GET', '/fhir/Patient/123/*', { interaction: 'search-compartment', type: null, compartment: { type: 'Patient', id: '123' } }],
    ['GET', '/fhir/Patient/123/$everything', { interaction: 'operation', type: 'Patient', id: '123', operation: 'everything' }],
    ['POST', '/fhir/Patient/$match', { interaction: 'operation', type: 'Patient', id: null, operation: 'match' }],
    ['GET', '/fhir/$export', { interaction: 'operation', type: null, operation: 'export' }],
  ])('%s %s', (method, target, expected) => {
    expect(c(method, target)).toMatchObject(expected);
  });

  test('literal segments win over ids: _history is never read as an id', () => {
    expect(c('GET', '/fhir/Observation/_history').interaction).toBe('history-type');
  });
});

describe('classify: refusals', () => {
  test.each([
    ['GET', '/fhir/Patient/../Patient/1', 'path_not_canonical:path.segment'],
    ['GET', '/fhir/Patient/./1', 'path_not_canonical:path.segment'],
    ['GET', '/fhir//Patient', 'path_not_canonical:path.segment'],
    ['GET', '/fhir/Patient/', 'path_not_canonical:path.segment'],
    ['GET', '/fhir/Patient%2F1', 'path_not_canonical:path.segment'],
    ['GET', '/fhir/Patient/1%2e', 'path_not_canonical:path.segment'],
    ['GET', '/fhir/Patient;jsessionid=1/1', 'path_not_canonical:path.segment'],
    ['GET', '/fhir/patient/1', 'unknown_resource_type:path.type-case'],
    ['GET', '/fhir/Patients/1', 'unknown_resource_type:path.type-unknown'],
    ['GET', '/fhir/Patient/' + 'a'.repeat(65), 'path_not_canonical:path.id'],
    ['GET', '/fhir/Patient/1/_history/x_y', 'path_not_canonical:path.id'],
    ['GET', 'http://other/fhir/Patient/1', 'path_not_canonical:path.form'],
    ['GET', '/other/Patient/1', 'not_found'],
    ['GET', '/fhirx/Patient/1', 'not_found'],
    ['GET', '/fhir/Practitioner/1/Observation/2', 'not_found'],
    ['GET', '/fhir/Observation/1/Observation', 'not_found'],
    ['TRACE', '/fhir/Patient', 'method_not_allowed'],
    ['HEAD', '/fhir/Patient', 'method_not_allowed'],
    ['POST', '/fhir/Patient/1', 'method_not_allowed'],
    ['GET', '/fhir/Patient/$bad$op', 'path_not_canonical:path.operation'],
  ])('%s %s -> %s', (method, target, expected) => {
    expect(codeOf(() => c(method, target))).toBe(expected);
  });
});

describe('classify: parameters', () => {
  test('AND (repeated names) and OR (commas, with \\, escaped) are kept as the server reads them', () => {
    const r = c('GET', '/fhir/Observation?code=a,b&code=c&value-string=x\\,y');
    expect(r.params.map((p) => [p.name, p.values])).toEqual([
      ['code', ['a', 'b']],
      ['code', ['c']],
      ['value-string', ['x,y']],
    ]);
  });

  test('modifiers, chains and _has are recognised', () => {
    const r = c('GET', '/fhir/Observation?code:not=x&subject:Patient.name=y&subject.name=z&_has:Observation:patient:code=q');
    expect(r.params.map((p) => [p.name, p.modifier])).toEqual([
      ['code', 'not'],
      ['subject', 'Patient.name'],
      ['subject.name', null],
      ['_has:Observation:patient:code', null],
    ]);
  });

  test('+ is a space and percent-escapes decode once', () => {
    expect(c('GET', '/fhir/Patient?name=Anne+Marie%2C%20Jr').params[0]).toMatchObject({ value: 'Anne Marie, Jr', values: ['Anne Marie', ' Jr'] });
  });

  test.each([
    ['/fhir/Patient?unknown-param=1', 'invalid_search_parameter:param.unknown'],
    ['/fhir/Patient?access_token=abc', 'invalid_search_parameter:param.unknown'],
    ['/fhir/Patient?_query=everything', 'invalid_search_parameter:param.unknown'],
    ['/fhir/Patient?_filter=name eq x', 'invalid_search_parameter:param.unknown'],
    ['/fhir/Patient?name.given=x', 'invalid_search_parameter:param.unknown'], // a chain on a non-reference parameter
    ['/fhir/Patient?name=%E0%A4%A', 'invalid_search_parameter:param.bad-encoding'],
    ['/fhir/Patient?name=%ED%A0%80', 'invalid_search_parameter:param.bad-encoding'],
    ['/fhir/Patient?name=a%0d%0aX-Injected:1', 'invalid_search_parameter:param.control-character'],
    ['/fhir/Patient?na%20me=x', 'invalid_search_parameter:param.malformed-name'],
    ['/fhir/Patient/1?name=x', 'invalid_search_parameter:param.not-allowed-here'],
    ['/fhir/Patient?_format=xml', 'not_acceptable'],
    ['/fhir/Patient/1/_history?name=x', 'invalid_search_parameter:param.unknown'],
  ])('%s -> %s', (target, expected) => {
    expect(codeOf(() => c('GET', target))).toBe(expected);
  });

  test.each([
    ['/fhir/Patient?unknown-param=1', 'unknown-param'],
    ['/fhir/Patient?name:nonsense=1&unknown-param:exact=1', 'unknown-param'],
    ['/fhir/Patient?access_token=abc', 'access_token'],
    ['/fhir/Patient/1/$everything?access_token=abc', 'access_token'],
    ['/fhir/Patient/1/_history?name=x', 'name'],
    ['/fhir/Patient/1?name=x', 'name'],
    ['/fhir/Patient?name=%E0%A4%A', 'name'],
    ['/fhir/Patient?name:exact=a%0d%0aX-Injected:1', 'name'],
    ['/fhir/Observation?_count=5&_offset=10', '_offset'],
    // A malformed name is not echoed: it is not in the alphabet a parameter name may use.
    ['/fhir/Patient?na%20me=x', undefined],
    ['/fhir/Patient?na%E0%A4%A=x', undefined],
  ])('the refusal of %s names the parameter %s, never its value', (target, parameter) => {
    expect(parameterOf(() => c('GET', target))).toBe(parameter);
  });

  test('an unknown If-None-Exist criterion is named', () => {
    expect(parameterOf(() => withIfNoneExist(c('POST', '/fhir/Patient'), 'identifier=1&nope=2'))).toBe('nope');
  });

  test('conditional writes need criteria', () => {
    expect(codeOf(() => c('DELETE', '/fhir/Patient'))).toBe('invalid_request:conditional.no-criteria');
  });

  test('the upstream\'s paging parameters are refused: the gateway pages searches itself', () => {
    expect(codeOf(() => c('GET', '/fhir/Observation?_count=5&_offset=10'))).toBe('invalid_search_parameter:param.paging-not-allowed');
    expect(codeOf(() => c('GET', '/fhir?_getpages=abc'))).toBe('invalid_search_parameter:param.paging-not-allowed');
  });

  test('a gateway cursor is a continuation, and takes no criteria beside it', () => {
    expect(c('GET', '/fhir?_gwcursor=abc').interaction).toBe('search-continue');
    expect(c('GET', '/fhir?_gwcursor=abc&_format=json').interaction).toBe('search-continue');
    expect(codeOf(() => c('GET', '/fhir?_gwcursor=abc&code=x'))).toBe('invalid_search_parameter:paging.cursor-with-criteria');
    expect(codeOf(() => c('GET', '/fhir/Observation?_gwcursor=abc'))).toBe('invalid_search_parameter:param.paging-not-allowed');
  });

  test('POST _search form parameters are merged and checked like query parameters', () => {
    const r = withFormParams(c('POST', '/fhir/Observation/_search'), 'code=a&subject=Patient/1', options);
    expect(r.searchViaPost).toBe(true);
    expect(r.params.map((p) => p.name)).toEqual(['code', 'subject']);
    expect(codeOf(() => withFormParams(c('POST', '/fhir/Observation/_search'), 'nope=1', options))).toBe('invalid_search_parameter:param.unknown');
  });
});

describe('the upstream request is rebuilt from the canonical form', () => {
  test.each([
    ['GET', '/fhir/Observation?code=a,b&subject=Patient/1', '/Observation?code=a%2Cb&subject=Patient%2F1'],
    ['GET', '/fhir/Patient?name=Anne+Marie', '/Patient?name=Anne%20Marie'],
    ['GET', '/fhir/Patient/1/_history/2', '/Patient/1/_history/2'],
    ['GET', '/fhir/Patient/1/Observation?code=x', '/Patient/1/Observation?code=x'],
    ['GET', '/fhir/metadata', '/metadata'],
    ['POST', '/fhir', '/'],
    ['GET', '/fhir/Patient/1/$everything', '/Patient/1/$everything'],
  ])('%s %s -> %s', (method, target, path) => {
    expect(upstreamPathOf(c(method, target))).toEqual({ path, formBody: null });
  });

  test('POST _search keeps its parameters in the form body', () => {
    expect(upstreamPathOf(withFormParams(c('POST', '/fhir/Observation/_search'), 'code=a', options))).toEqual({ path: '/Observation/_search', formBody: 'code=a' });
  });
});

test('POST _search is a search by its path alone: rebuilt, it never becomes a create (found by the property test)', () => {
  const request = classify('POST', '/fhir/Patient/_search', { basePath: '/fhir', pagingParameters: new Set() });
  expect(request).toMatchObject({ interaction: 'search-type', searchViaPost: true });
  expect(upstreamPathOf(request)).toEqual({ path: '/Patient/_search', formBody: '' });
});
