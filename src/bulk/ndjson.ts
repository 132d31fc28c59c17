/**
 * NDJSON (Bulk Data files) through the same per-resource decisions and redaction as Bundles, line by
 * line, in batches, with memory bounded by the batch and the longest line allowed, whatever the size
 * of the file. Lines are written as they are released, respecting the client's backpressure.
 *
 * A line the gateway cannot read (not JSON, not a resource, too long) stops the stream: the output
 * so far holds only released resources, and the connection is then broken so the client sees an
 * incomplete download, never an unchecked line.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { FhirResourceJson } from '../policy/contract.js';
import { emptySummary, isResource, judge, type EnforcementSummary, type ResponseEnforcer } from '../enforce/response.js';

export interface NdjsonOptions {
  readonly batchSize: number;
  readonly maxLineBytes: number;
}

export async function enforceNdjson(source: AsyncIterable<Uint8Array>, out: Writable, enforcer: ResponseEnforcer, options: NdjsonOptions): Promise<EnforcementSummary> {
  const summary = emptySummary();
  let batch: FhirResourceJson[] = [];

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const resources = batch;
    batch = [];
    const decisions = await judge(resources, enforcer, summary);
    // Line by line, corked into one write: one string of the whole batch would be a large object,
    // which only a full garbage collection frees (memory would rise in steps through the file).
    let full = false;
    out.cork();
    decisions.forEach((d, i) => {
      if (d.allow) full = !out.write(`${JSON.stringify(resources[i])}\n`) || full;
    });
    out.uncork();
    // uncork() may flush the buffer and emit 'drain' before this line (an HTTP response on Node 24
    // does): wait only while the stream still needs draining, or the wait never ends.
    if (full && out.writableNeedDrain) await once(out, 'drain');
  };

  const take = async (line: Buffer): Promise<void> => {
    const text = line.toString('utf8').trim();
    if (text === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new GatewayError('upstream_bad_response', { reasons: ['upstream.ndjson-line'], cause: err });
    }
    if (!isResource(parsed)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
    batch.push(parsed);
    if (batch.length >= options.batchSize) await flush();
  };

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of source) {
    let data = Buffer.from(chunk);
    let newline = data.indexOf(10);
    while (newline !== -1) {
      const line = pending.length === 0 ? data.subarray(0, newline) : Buffer.concat([...pending, data.subarray(0, newline)]);
      pending = [];
      pendingBytes = 0;
      if (line.length > options.maxLineBytes) throw new GatewayError('upstream_too_large', { reasons: ['upstream.ndjson-line-too-long'] });
      await take(line);
      data = data.subarray(newline + 1);
      newline = data.indexOf(10);
    }
    if (data.length > 0) {
      pending.push(data);
      pendingBytes += data.length;
      if (pendingBytes > options.maxLineBytes) throw new GatewayError('upstream_too_large', { reasons: ['upstream.ndjson-line-too-long'] });
    }
  }
  if (pendingBytes > 0) await take(Buffer.concat(pending));
  await flush();
  return summary;
}
