/** A request body read whole, refused with 413 `payload_too_large` past `maxBytes` (the admin endpoints' small JSON bodies). */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';

export async function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new GatewayError('payload_too_large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
