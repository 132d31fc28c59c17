/**
 * The audit store opened from configuration: a PostgreSQL pool or an embedded PGlite, its schema
 * migrated, its partitions past retention dropped (at start and daily), and the writer and reader
 * over it. The sink writes through it; the access history and the privacy office read through it.
 */
import { migrate } from './migrate.js';
import { dropExpiredPartitions, ensurePartitions, monthsAhead } from './partitions.js';
import { createStoreReader, type AuditStoreReader } from './query.js';
import { pgliteClient, postgresClient, type SqlClient } from './sql.js';
import { createRecordWriter, type RecordWriter } from './write.js';

export type StoreConnection = { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number } | { readonly kind: 'embedded'; readonly dir: string | null };

export interface StoreOptions {
  readonly connection: StoreConnection;
  /** Months a record is kept at least (its month's partition is dropped one month later at most). */
  readonly retentionMonths: number;
  /** Told the partitions dropped and of failed maintenance runs (never record content). */
  readonly onRetention?: (dropped: readonly string[], err: unknown) => void;
  readonly now?: () => Date;
}

export interface AuditStore {
  readonly db: SqlClient;
  readonly writer: RecordWriter;
  readonly reader: AuditStoreReader;
  /** Resolves once the schema is migrated; retried on the next call after a failure. */
  ready(): Promise<void>;
  /** Makes this month's and the next months' partitions, and drops those past retention; returns the names dropped. */
  maintain(): Promise<string[]>;
  /** Maintains the partitions now (resolves once this month's exist) and then daily, until close. */
  startMaintenance(): Promise<void>;
  close(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function openAuditStore(options: StoreOptions): Promise<AuditStore> {
  const c = options.connection;
  const db = c.kind === 'postgres' ? postgresClient({ url: c.url, poolSize: c.poolSize }) : await pgliteClient(c.dir);
  const now = options.now ?? (() => new Date());
  let migrated: Promise<void> | null = null;
  const ready = (): Promise<void> => {
    migrated ??= migrate(db).then(
      () => undefined,
      (err: unknown) => {
        migrated = null;
        throw err;
      },
    );
    return migrated;
  };
  // Partitions are made ahead and dropped here, daily: DDL locks the parent tables exclusively, so
  // it is kept away from the traffic's batches and queries (the writer makes a month only when a
  // record needs one that is missing, e.g. a replay of old records).
  const premake = async (): Promise<void> => {
    await ready();
    await ensurePartitions(db, monthsAhead(now()));
  };
  const maintain = async (): Promise<string[]> => {
    await premake();
    return dropExpiredPartitions(db, now(), options.retentionMonths);
  };
  const daily = (): void => {
    maintain().then(
      (dropped) => options.onRetention?.(dropped, null),
      (err: unknown) => options.onRetention?.([], err),
    );
  };
  let timer: NodeJS.Timeout | null = null;
  let closed: Promise<void> | null = null;
  return {
    db,
    writer: createRecordWriter(db),
    reader: createStoreReader(db),
    ready,
    maintain,
    async startMaintenance() {
      if (timer !== null || closed !== null) return;
      timer = setInterval(daily, DAY_MS).unref();
      await premake().catch((err: unknown) => options.onRetention?.([], err));
      daily();
    },
    close() {
      closed ??= (async () => {
        if (timer) clearInterval(timer);
        await migrated?.catch(() => {});
        await db.close();
      })();
      return closed;
    },
  };
}
