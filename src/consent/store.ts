/**
 * The patients' Consent resources, read from the upstream with the gateway's own identity and
 * cached for a short time: in memory, or in Redis when configured, so that every replica shares
 * the cache and an invalidation is seen by all of them at once. A Consent written through the
 * gateway invalidates its patient's entry immediately.
 *
 * When the Consents of a patient cannot be read, that patient is reported `unavailable` (and not
 * cached): policy treats it as a refusal, never as "no consent on file".
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import type { FhirResourceJson } from '../policy/contract.js';
import type { RequestOrigin, UpstreamClient } from '../proxy/upstream-client.js';

export type ConsentLookup = { readonly status: 'ok'; readonly consents: readonly FhirResourceJson[] } | { readonly status: 'unavailable' };

export interface ConsentStore {
  /** The active Consents of each patient. */
  forPatients(patientIds: readonly string[], origin: RequestOrigin): Promise<Map<string, ConsentLookup>>;
  /** Forgets the cached Consents of these patients (or of everyone, for `'all'`). */
  invalidate(patientIds: readonly string[] | 'all'): Promise<void>;
}

export interface ConsentStoreOptions {
  readonly client: UpstreamClient;
  readonly ttlSeconds: number;
  readonly redis?: { readonly client: RedisClient; readonly keyPrefix: string } | undefined;
  /** Patients per upstream search (`Consent?patient=Patient/a,Patient/b,...`). */
  readonly batchSize?: number;
  readonly now?: () => number;
}

const MAX_CONSENTS_PER_SEARCH = 1000;

export function createConsentStore(options: ConsentStoreOptions): ConsentStore {
  const now = options.now ?? Date.now;
  const memory = new Map<string, { expires: number; consents: FhirResourceJson[] }>();
  const batchSize = options.batchSize ?? 50;
  const redisKey = (id: string): string => `${options.redis?.keyPrefix ?? ''}consent:${id}`;

  const cached = async (ids: readonly string[]): Promise<Map<string, FhirResourceJson[]>> => {
    const hits = new Map<string, FhirResourceJson[]>();
    if (options.redis) {
      const values = await options.redis.client.mget(...ids.map(redisKey)).catch(() => ids.map(() => null));
      values.forEach((v, i) => {
        if (typeof v === 'string') hits.set(ids[i] as string, JSON.parse(v) as FhirResourceJson[]);
      });
      return hits;
    }
    for (const id of ids) {
      const entry = memory.get(id);
      if (entry && entry.expires > now()) hits.set(id, entry.consents);
    }
    return hits;
  };

  const remember = async (found: Map<string, FhirResourceJson[]>): Promise<void> => {
    if (options.redis) {
      const pipeline = options.redis.client.multi();
      for (const [id, consents] of found) pipeline.set(redisKey(id), JSON.stringify(consents), 'EX', options.ttlSeconds);
      await pipeline.exec().catch(() => undefined);
      return;
    }
    for (const [id, consents] of found) memory.set(id, { expires: now() + options.ttlSeconds * 1000, consents });
  };

  return {
    async forPatients(patientIds, origin) {
      const ids = [...new Set(patientIds)];
      const result = new Map<string, ConsentLookup>();
      if (ids.length === 0) return result;
      const hits = await cached(ids);
      for (const [id, consents] of hits) result.set(id, { status: 'ok', consents });
      const missing = ids.filter((id) => !hits.has(id));
      for (let i = 0; i < missing.length; i += batchSize) {
        const chunk = missing.slice(i, i + batchSize);
        try {
          const consents = await options.client.search('Consent', `patient=${chunk.map((id) => encodeURIComponent(`Patient/${id}`)).join(',')}&status=active&_count=200`, origin, MAX_CONSENTS_PER_SEARCH);
          const byPatient = new Map<string, FhirResourceJson[]>(chunk.map((id) => [id, []]));
          for (const consent of consents) {
            const ref = (consent['patient'] as { reference?: unknown } | undefined)?.reference;
            const id = typeof ref === 'string' ? /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref)?.[1] : undefined;
            if (id !== undefined && byPatient.has(id)) byPatient.get(id)?.push(consent);
          }
          await remember(byPatient);
          for (const [id, list] of byPatient) result.set(id, { status: 'ok', consents: list });
        } catch {
          for (const id of chunk) result.set(id, { status: 'unavailable' });
        }
      }
      return result;
    },
    async invalidate(patientIds) {
      if (options.redis) {
        if (patientIds === 'all') {
          // SCAN runs per server: on a Cluster, on each primary (the hash-tagged keys sit on one of them).
          const client = options.redis.client;
          const servers = client instanceof Cluster ? client.nodes('master') : [client];
          for (const server of servers) {
            const stream = server.scanStream({ match: `${options.redis.keyPrefix}consent:*`, count: 500 });
            for await (const keys of stream as AsyncIterable<string[]>) if (keys.length > 0) await client.del(...keys);
          }
        } else if (patientIds.length > 0) {
          await options.redis.client.del(...patientIds.map(redisKey));
        }
        return;
      }
      if (patientIds === 'all') memory.clear();
      else for (const id of patientIds) memory.delete(id);
    },
  };
}
