/** The HTTP sink's bodies for SIEMs, against a real loopback HTTP peer: what Splunk HEC and Loki are sent. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { encoderFor } from '../../../src/audit/formats/index.js';
import { createHttpSink, type HttpEncoding } from '../../../src/audit/sinks/http.js';
import { sealedTrail } from '../../support/audit.js';

let server: http.Server;
let url: string;
let status = 200;
const seen: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"text":"Success","echo":"Quintero-Zeta"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/collector/event`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const sinkFor = (encoding: HttpEncoding) =>
  createHttpSink({ name: 'siem', url, encoding, headers: { 'x-source': 'gw' }, authorization: 'Splunk 0000-secret', timeoutMs: 2000, encode: encoderFor('record', { publicBaseUrl: 'https://h/fhir', version: 't' }) });

describe('http audit sink', () => {
  test.each<[HttpEncoding, (body: string) => string[]]>([
    ['json-array', (b) => (JSON.parse(b) as Array<{ deliveryId: string }>).map((r) => r.deliveryId)],
    ['ndjson', (b) => b.trim().split('\n').map((l) => (JSON.parse(l) as { deliveryId: string }).deliveryId)],
    ['splunk-hec', (b) => b.split('\n').map((l) => (JSON.parse(l) as { event: { deliveryId: string }; sourcetype: string; time: number }).event.deliveryId)],
    ['loki', (b) => (JSON.parse(b) as { streams: Array<{ values: Array<[string, string]> }> }).streams[0]!.values.map(([, line]) => (JSON.parse(line) as { deliveryId: string }).deliveryId)],
  ])('%s: one POST per batch, records in order, with the configured headers and the secret Authorization', async (encoding, ids) => {
    seen.length = 0;
    await sinkFor(encoding).deliver(sealedTrail(3));
    expect(seen).toHaveLength(1);
    expect(ids(seen[0]!.body)).toEqual(['inst-a/1', 'inst-a/2', 'inst-a/3']);
    expect(seen[0]!.headers).toMatchObject({ authorization: 'Splunk 0000-secret', 'x-source': 'gw' });
  });

  test('splunk-hec events carry the record time and a sourcetype; loki values carry nanosecond timestamps', async () => {
    seen.length = 0;
    const [record] = sealedTrail(1);
    await sinkFor('splunk-hec').deliver([record!]);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ time: Date.parse(record!.time) / 1000, sourcetype: 'fhirgw:audit' });
    await sinkFor('loki').deliver([record!]);
    const loki = JSON.parse(seen[1]!.body) as { streams: Array<{ stream: Record<string, string>; values: Array<[string, string]> }> };
    expect(loki.streams[0]!.stream).toEqual({ app: 'fhir-privacy-gateway', instance: 'inst-a' });
    expect(loki.streams[0]!.values[0]![0]).toBe(`${Date.parse(record!.time)}000000`);
  });

  test('a non-2xx answer rejects the batch (to be retried) without quoting the answer', async () => {
    status = 503;
    try {
      await expect(sinkFor('json-array').deliver(sealedTrail(1))).rejects.toThrow(/^HTTP 503$/);
    } finally {
      status = 200;
    }
  });
});
