/**
 * `fhir-gateway audit verify`: reads a trail as a consumer received it (JSON-lines files, in the
 * order given, or a Redis stream from its first entry) and checks the hash chain (chain.ts).
 */
import { readFileSync } from 'node:fs';
import { createRedisClient, whenReady } from '../redis/connection.js';
import { verifyChain, type ChainKey, type RawEntry, type VerifyReport } from './chain.js';
import { createStoreReader } from './store/query.js';
import { pgliteClient, postgresClient } from './store/sql.js';

export function* fileEntries(files: readonly string[]): Generator<RawEntry> {
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    for (const [i, text] of lines.entries()) if (text !== '') yield { position: `${file}:${i + 1}`, text };
  }
}

/** Every entry of a stream, oldest first, read in pages (XRANGE). */
export async function redisStreamEntries(url: string, stream: string): Promise<RawEntry[]> {
  const client = createRedisClient({ url }, { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
  client.on('error', () => {});
  try {
    await whenReady(client);
    const entries: RawEntry[] = [];
    let start = '-';
    for (;;) {
      const page = await client.xrange(stream, start, '+', 'COUNT', 1000);
      for (const [id, fields] of page) {
        const i = fields.indexOf('record');
        entries.push({ position: `${stream}#${id}`, text: i >= 0 && i % 2 === 0 ? (fields[i + 1] ?? '') : '' });
      }
      if (page.length < 1000) return entries;
      start = `(${page.at(-1)![0]}`;
    }
  } finally {
    client.disconnect();
  }
}

export function formatReport(report: VerifyReport): string {
  const lines: string[] = [];
  for (const [instance, s] of Object.entries(report.instances)) {
    const tail = s.lastCheckpoint === null ? 'no checkpoint seen' : `${s.last - s.lastCheckpoint} record(s) after the last checkpoint (seq ${s.lastCheckpoint})`;
    lines.push(`instance ${instance}: seq ${s.first}..${s.last}, ${tail}`);
  }
  lines.push(`${report.records} record(s), ${report.duplicates} duplicate(s) ignored`);
  if (report.problem) {
    const p = report.problem;
    lines.push(`BROKEN at ${p.position}: ${p.kind}${p.instance ? ` (instance ${p.instance}, seq ${p.seq})` : ''}: ${p.detail}`);
  } else lines.push('OK: the chain is intact');
  return lines.join('\n');
}

/** Every record of the audit store, per instance in sequence order (PostgreSQL, or an embedded PGlite directory). */
export async function storeEntries(target: { postgresUrl: string } | { embeddedDir: string }): Promise<RawEntry[]> {
  const db = 'postgresUrl' in target ? postgresClient({ url: target.postgresUrl, poolSize: 1 }) : await pgliteClient(target.embeddedDir);
  try {
    const entries: RawEntry[] = [];
    for await (const entry of createStoreReader(db).chainEntries()) entries.push(entry);
    return entries;
  } finally {
    await db.close();
  }
}

export type TrailTarget = { files: readonly string[] } | { redisUrl: string; stream: string } | { postgresUrl: string } | { embeddedDir: string };

export async function verifyTrail(target: TrailTarget, key: ChainKey): Promise<VerifyReport> {
  const entries = 'files' in target ? fileEntries(target.files) : 'redisUrl' in target ? await redisStreamEntries(target.redisUrl, target.stream) : await storeEntries(target);
  return verifyChain(entries, key);
}
