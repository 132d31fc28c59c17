/**
 * Hostile HTTP at the edge. Node's parser already refuses the request-smuggling shapes (a
 * Content-Length beside Transfer-Encoding, duplicate or malformed Content-Length, unknown transfer
 * codings, obs-fold, bare CR or LF), oversized headers and unknown methods; left to itself it then
 * answers with an empty 400/431 or just closes the socket (CONNECT). Here the gateway answers each
 * of them itself, with an OperationOutcome and the same security headers as any answer, and closes
 * the connection: after a framing error nothing more on it can be trusted.
 *
 * `refusalOf` is the first check on every parsed request: methods the gateway never serves, HTTP
 * versions other than 1.0 and 1.1, and an ambiguous Host (RFC 9112 section 3.2: missing in HTTP/1.1, or given twice).
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError, operationOutcomeFor } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { SECURITY_HEADERS } from '../proxy/headers.js';

/** Parser errors that are about message framing: where smuggling lives. */
const FRAMING = new Set([
  'HPE_INVALID_TRANSFER_ENCODING',
  'HPE_UNEXPECTED_CONTENT_LENGTH',
  'HPE_INVALID_CONTENT_LENGTH',
  'HPE_INVALID_CHUNK_SIZE',
  'HPE_CHUNK_EXTENSIONS_OVERFLOW',
]);

/** The gateway's answer to a request Node's parser refused (exported for tests of the mapping). */
export function clientErrorOf(code: string | undefined): GatewayError {
  if (code === 'HPE_HEADER_OVERFLOW') return new GatewayError('headers_too_large');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new GatewayError('request_timeout');
  if (code === 'HPE_INVALID_METHOD') return new GatewayError('method_not_allowed', { reasons: ['http.method'] });
  if (code !== undefined && FRAMING.has(code)) return new GatewayError('invalid_request', { reasons: ['http.framing'] });
  return new GatewayError('invalid_request', { reasons: ['http.malformed'] });
}

/** Methods no FHIR client needs and proxies must not honour (TRACE echoes credentials back; CONNECT tunnels). */
const NEVER_SERVED = new Set(['TRACE', 'TRACK', 'CONNECT']);

/** Why a parsed request is refused before anything else looks at it, or null. */
export function refusalOf(req: IncomingMessage): GatewayError | null {
  if (NEVER_SERVED.has(req.method ?? '')) return new GatewayError('method_not_allowed', { reasons: ['http.method'] });
  // Node still parses a request line without a version as HTTP/0.9, with header lines after it: a
  // bare LF in a target (`GET /x?a=b<LF>X-Injected: 1`) would become a request with injected headers.
  if (req.httpVersion !== '1.1' && req.httpVersion !== '1.0') return new GatewayError('invalid_request', { reasons: ['http.version'] });
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1 || (hosts === 0 && req.httpVersion === '1.1')) return new GatewayError('invalid_request', { reasons: ['http.host'] });
  return null;
}

/** A complete HTTP/1.1 answer with an OperationOutcome, for a socket that has no response object. */
export function rawErrorResponse(err: GatewayError, requestId: string): string {
  const body = JSON.stringify(operationOutcomeFor(err, requestId));
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'content-type': 'application/fhir+json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': requestId,
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Installs the gateway's own answers for what never becomes a request: parser errors (including
 * 431 for oversized headers and 408 for a request not received in time) and CONNECT.
 */
export function guardServer(server: http.Server, logger: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // As Node's own handler: only answer when the socket can still take an answer and no response
    // is already under way on it (a malformed request pipelined behind a good one).
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const answer = clientErrorOf(err.code);
    logger.info({ code: answer.code, reasons: answer.reasons, parserCode: err.code }, 'malformed request refused');
    socket.end(rawErrorResponse(answer, randomUUID()));
  });
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.end(rawErrorResponse(new GatewayError('method_not_allowed', { reasons: ['http.method'] }), randomUUID()));
  });
}
