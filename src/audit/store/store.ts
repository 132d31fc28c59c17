/**
 * The audit store opened from configuration: a PostgreSQL pool or an embedded PGlite, its schema
 * migrated, its partitions past retention dropped (at start and daily), and the writer and reader
 * over it. The sink writes through it; the access history and the privacy office read through it.
 */
import { migrate } from './migrate.js';
import { dropExpiredPartitions } from './partitions.js';
import { createStoreReader, type AuditStoreReader } from './query.js';
import { pgliteClient, postgresClient, type SqlClient } from './sql.js';
import { createRecordWriter, type RecordWriter } from './write.js';

export type StoreConnection = { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number } | { readonly kind: 'embedded'; readonly dir: string | null };

export interface StoreOptions {
  readonly connection: StoreConnection;
  /** Months a record is kept at least (its month's partition is dropped one month later at most). */
  readonly retentionMonths: number;
  /** Told the partitions dropped and of failed retention runs (never record content). */
  readonly onRetention?: (dropped: readonly string[], err: unknown) => void;
  readonly now?: () => Date;
}

export interface AuditStore {
  readonly db: SqlClient;
  readonly writer: RecordWriter;
  readonly reader: AuditStoreReader;
  /** Resolves once the schema is migrated; retried on the next call after a failure. */
  ready(): Promise<void>;
  /** Drops the partitions past retention now; returns their names. */
  applyRetention(): Promise<string[]>;
  /** Applies retention now and then daily, until close. */
  startRetention(): void;
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
  const applyRetention = async (): Promise<string[]> => {
    await ready();
    return dropExpiredPartitions(db, now(), options.retentionMonths);
  };
  const retain = (): void => {
    applyRetention().then(
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
    applyRetention,
    startRetention() {
      if (timer !== null || closed !== null) return;
      timer = setInterval(retain, DAY_MS).unref();
      retain();
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
