/**
 * Upstream bodies, decoded before anything is decided on them: content-encoding undone with a
 * bound on the output (a small gzip must not expand into gigabytes), content type checked, JSON
 * parsed. Anything the gateway cannot read fails closed as upstream_bad_response.
 *
 * Decompression runs on libuv's thread pool, not on the event loop: inflating tens of megabytes
 * would otherwise stall every other request for as long.
 */
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib';
import { GatewayError } from '../errors.js';

type Inflate = (body: Buffer, options: ZlibOptions) => Promise<Buffer>;
const gunzipAsync = promisify(gunzip) as Inflate;
const inflateAsync = promisify(inflate) as Inflate;
const brotliAsync = promisify(brotliDecompress) as Inflate;

const JSON_TYPES = new Set(['application/fhir+json', 'application/json']);

export async function decodeContent(body: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  try {
    switch (enc) {
      case 'identity':
      case '':
        return body;
      case 'gzip':
      case 'x-gzip':
        return await gunzipAsync(body, { maxOutputLength: maxBytes });
      case 'deflate':
        return await inflateAsync(body, { maxOutputLength: maxBytes });
      case 'br':
        return await brotliAsync(body, { maxOutputLength: maxBytes });
      default:
        throw new GatewayError('upstream_bad_response', { reasons: ['upstream.encoding'] });
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const tooLarge = err instanceof RangeError || (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw new GatewayError(tooLarge ? 'upstream_too_large' : 'upstream_bad_response', { reasons: [tooLarge ? 'upstream.too-large' : 'upstream.encoding'], cause: err });
  }
}

export function isFhirJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [mime, ...params] = contentType.split(';').map((s) => s.trim().toLowerCase());
  if (!JSON_TYPES.has(mime ?? '')) return false;
  const charset = params.find((p) => p.startsWith('charset='));
  return charset === undefined || charset === 'charset=utf-8';
}

export function parseFhirJson(body: Buffer, contentType: string | undefined): unknown {
  if (!isFhirJson(contentType)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.content-type'] });
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (err) {
    throw new GatewayError('upstream_bad_response', { reasons: ['upstream.json'], cause: err });
  }
}

/**
 * The parsed JSON of an error answer, or undefined: an error body is read only for the closed
 * vocabulary it may carry (src/errors-upstream.ts), so what cannot be read is simply ignored.
 */
export async function errorBodyOf(body: Buffer, encoding: string | undefined, contentType: string | undefined, maxBytes: number): Promise<unknown> {
  if (body.length === 0 || !isFhirJson(contentType)) return undefined;
  try {
    return parseFhirJson(await decodeContent(body, encoding, maxBytes), contentType);
  } catch {
    return undefined;
  }
}
