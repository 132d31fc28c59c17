import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, test } from '@jest/globals';
import { decodeContent, isFhirJson, parseFhirJson } from '../../src/proxy/decode.js';

describe('upstream content decoding', () => {
  const body = Buffer.from(JSON.stringify({ resourceType: 'Patient', id: 'p1' }));
  test.each([
    ['gzip', gzipSync(body)],
    ['x-gzip', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['br', brotliCompressSync(body)],
    ['identity', body],
    [undefined, body],
  ])('%s is decoded', async (encoding, encoded) => {
    expect((await decodeContent(encoded, encoding, 1024)).equals(body)).toBe(true);
  });

  test.each([['gzip'], ['deflate'], ['br']])('%s output is bounded (a small bomb cannot expand without limit)', async (encoding) => {
    const big = Buffer.alloc(1024 * 1024, 32);
    const encoded = encoding === 'gzip' ? gzipSync(big) : encoding === 'deflate' ? deflateSync(big) : brotliCompressSync(big);
    await expect(decodeContent(encoded, encoding, 64 * 1024)).rejects.toMatchObject({ code: 'upstream_too_large' });
  });

  test('unknown encodings and corrupt data fail closed', async () => {
    await expect(decodeContent(body, 'zstd', 1024)).rejects.toMatchObject({ code: 'upstream_bad_response' });
    await expect(decodeContent(Buffer.from('not gzip'), 'gzip', 1024)).rejects.toMatchObject({ code: 'upstream_bad_response' });
  });

  test('only FHIR JSON in UTF-8 is parsed', () => {
    expect(isFhirJson('application/fhir+json; charset=utf-8')).toBe(true);
    expect(isFhirJson('application/json')).toBe(true);
    expect(isFhirJson('application/fhir+json; charset=iso-8859-1')).toBe(false);
    expect(isFhirJson('application/fhir+xml')).toBe(false);
    expect(() => parseFhirJson(Buffer.from([0x7b, 0xff, 0x7d]), 'application/fhir+json')).toThrow(expect.objectContaining({ code: 'upstream_bad_response' }));
  });
});
