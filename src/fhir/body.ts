/**
 * Request bodies, read in full (bounded) before anything is decided, so that policy judges the
 * body the upstream will receive: the gateway forwards its own re-serialisation of what it parsed,
 * never the client's bytes (duplicate JSON keys, odd encodings and trailing garbage stay behind).
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import type { FhirRequest } from './request.js';

export type RequestBody =
  | { readonly kind: 'none' }
  | { readonly kind: 'json'; readonly json: Record<string, unknown> & { resourceType: string }; readonly contentType: string }
  | { readonly kind: 'json-patch'; readonly json: unknown[]; readonly contentType: string }
  | { readonly kind: 'form'; readonly text: string };

const FHIR_JSON = new Set(['application/fhir+json', 'application/json']);

export async function readRequestBody(req: IncomingMessage, request: FhirRequest, maxBytes: number): Promise<RequestBody> {
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  if (request.method === 'GET' || request.method === 'DELETE') {
    if (hasBody) throw new GatewayError('invalid_request', { reasons: ['body.unexpected'] });
    return { kind: 'none' };
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new GatewayError('payload_too_large');
  const mime = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const bytes = await readAll(req, maxBytes);

  if (request.interaction === 'search-type') {
    if (mime !== 'application/x-www-form-urlencoded') throw new GatewayError('unsupported_media_type');
    return { kind: 'form', text: decodeUtf8(bytes) };
  }
  if (request.interaction === 'patch' && mime === 'application/json-patch+json') {
    const json = parseJson(bytes);
    if (!Array.isArray(json)) throw new GatewayError('invalid_body', { reasons: ['body.json-patch'] });
    return { kind: 'json-patch', json, contentType: mime };
  }
  if (!FHIR_JSON.has(mime)) throw new GatewayError('unsupported_media_type');
  return resourceBody(request, parseJson(bytes));
}

/**
 * The body of one batch or transaction entry (`entry.resource`), checked as if it had been sent
 * alone. A PATCH entry carries its JSON Patch as a Binary, as FHIR's batch rules say.
 */
export function entryBody(request: FhirRequest, resource: unknown): RequestBody {
  if (request.method === 'GET' || request.method === 'DELETE') {
    if (resource !== undefined) throw new GatewayError('invalid_request', { reasons: ['body.unexpected'] });
    return { kind: 'none' };
  }
  if (request.searchViaPost || request.interaction === 'search-type') throw new GatewayError('invalid_request', { reasons: ['batch.post-search'] });
  if (request.interaction === 'patch') {
    const binary = resource as { resourceType?: unknown; contentType?: unknown; data?: unknown } | undefined;
    if (binary?.resourceType === 'Binary' && binary.contentType === 'application/json-patch+json' && typeof binary.data === 'string') {
      const json = parseJson(Buffer.from(binary.data, 'base64'));
      if (!Array.isArray(json)) throw new GatewayError('invalid_body', { reasons: ['body.json-patch'] });
      return { kind: 'json-patch', json, contentType: 'application/json-patch+json' };
    }
  }
  return resourceBody(request, resource);
}

function resourceBody(request: FhirRequest, json: unknown): RequestBody {
  if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof (json as { resourceType?: unknown }).resourceType !== 'string') {
    throw new GatewayError('invalid_body', { reasons: ['body.not-a-resource'] });
  }
  const resource = json as Record<string, unknown> & { resourceType: string };
  checkAgainstRequest(resource, request);
  return { kind: 'json', json: resource, contentType: 'application/fhir+json' };
}

function checkAgainstRequest(resource: Record<string, unknown> & { resourceType: string }, request: FhirRequest): void {
  switch (request.interaction) {
    case 'create':
    case 'update':
      if (resource.resourceType !== request.type) throw new GatewayError('invalid_body', { reasons: ['body.type-mismatch'] });
      if (request.interaction === 'update' && request.id !== null && resource['id'] !== request.id) {
        throw new GatewayError('invalid_body', { reasons: ['body.id-mismatch'] });
      }
      return;
    case 'batch': {
      const type = resource['type'];
      if (resource.resourceType !== 'Bundle' || (type !== 'batch' && type !== 'transaction')) {
        throw new GatewayError('invalid_body', { reasons: ['body.not-a-batch'] });
      }
      return;
    }
    case 'patch':
      if (resource.resourceType !== 'Parameters') throw new GatewayError('invalid_body', { reasons: ['body.patch-parameters'] });
      return;
    default:
      return;
  }
}

/**
 * The whole body, or 413 as soon as it grows past `maxBytes`: the rest is left unread (the answer
 * closes the connection), so a client cannot make the gateway read an endless body.
 */
function readAll(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        done();
        req.pause();
        reject(new GatewayError('payload_too_large'));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks));
    };
    // The client went away (or broke the framing) mid-body: there is no request to answer.
    const onError = (err: Error): void => {
      done();
      reject(new GatewayError('invalid_request', { reasons: ['client.gone'], cause: err }));
    };
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

function decodeUtf8(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new GatewayError('invalid_body', { reasons: ['body.utf8'] });
  }
}

function parseJson(bytes: Buffer): unknown {
  const text = decodeUtf8(bytes);
  if (text.trim() === '') throw new GatewayError('invalid_body', { reasons: ['body.empty'] });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new GatewayError('invalid_body', { reasons: ['body.json'] });
  }
  if (depthExceeds(json, MAX_JSON_DEPTH)) throw new GatewayError('invalid_body', { reasons: ['body.too-deep'] });
  return json;
}

/**
 * Deepest nesting of objects and arrays accepted in a body. FHIR resources nest far less (a
 * Questionnaire's items a dozen levels, contained resources and extensions a few more); what is
 * deeper is an attack on every recursive walk after parsing (policy input, redaction, the upstream).
 */
export const MAX_JSON_DEPTH = 100;

/** Whether any value nests deeper than `max`: iterative, so the check itself cannot overflow the stack. */
function depthExceeds(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}
