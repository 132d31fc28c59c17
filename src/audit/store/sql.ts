/**
 * The one database seam of the audit store: PostgreSQL through `pg`, or PGlite (PostgreSQL compiled
 * to WebAssembly, in process) for the demo and single-node use. Both run the same SQL; nothing above
 * this file knows which it has.
 */
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

export interface SqlQuery {
  /** One statement with $1.. parameters. */
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** A script of statements without parameters (a migration). */
  exec(script: string): Promise<void>;
}

export interface SqlClient extends SqlQuery {
  readonly engine: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlQuery) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface PostgresOptions {
  readonly url: string;
  readonly poolSize?: number;
  /** Per statement, server side. */
  readonly statementTimeoutMs?: number;
}

export function postgresClient(options: PostgresOptions): SqlClient {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: 5000,
    statement_timeout: options.statementTimeoutMs ?? 30000,
    application_name: 'fhir-privacy-gateway',
  });
  // A connection lost while idle (the server restarted) is replaced on the next query; the error
  // surfaces there, as a failed delivery or query.
  pool.on('error', () => {});
  const on = (c: pg.Pool | pg.PoolClient): SqlQuery => ({
    async query<R extends object>(text: string, params: readonly unknown[] = []) {
      return (await c.query<R>(text, params as unknown[])).rows;
    },
    async exec(script: string) {
      await c.query(script);
    },
  });
  return {
    engine: 'postgres',
    ...on(pool),
    async transaction<T>(fn: (tx: SqlQuery) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(on(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        throw err;
      } finally {
        // A connection whose ROLLBACK failed is in an unknown state: destroyed, not pooled.
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** PGlite with its data in `dir` (null: in memory, gone at close). */
export async function pgliteClient(dir: string | null): Promise<SqlClient> {
  const db = await PGlite.create(dir ?? 'memory://');
  const on = (c: Pick<PGlite, 'query' | 'exec'>): SqlQuery => ({
    async query<R extends object>(text: string, params: readonly unknown[] = []) {
      return (await c.query<R>(text, params as unknown[])).rows;
    },
    async exec(script: string) {
      await c.exec(script);
    },
  });
  return {
    engine: 'pglite',
    ...on(db),
    transaction: <T>(fn: (tx: SqlQuery) => Promise<T>) => db.transaction((tx) => fn(on(tx))),
    close: () => db.close(),
  };
}
