/**
 * Versioned schema migrations, run at start-up by every replica. The files are `migrations/NNNN_name.sql`
 * in the package, applied in name order, each once: the applied versions (with a checksum of the
 * file) are kept in `fhirgw_schema_migrations`. Replicas starting together serialise on an advisory
 * lock, so each migration runs exactly once; all pending files apply in one transaction, so a failed
 * migration leaves the schema as it was.
 *
 * Numbering: the audit store's own files from 0001; the privacy office's (review cases, detector)
 * from 0100. A file already applied must never change: start-up refuses a checksum mismatch.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SqlClient } from './sql.js';

/** The package's migrations/ directory (from src/audit/store or dist/audit/store alike). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

const FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;
/** pg_advisory_xact_lock key: "fhirgw-migrate" as a number. */
const LOCK = 0x66686972676d;

export interface Migration {
  readonly version: string;
  readonly sql: string;
  readonly checksum: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  return files.map((file) => {
    if (!FILE.test(file)) throw new MigrationError(`migration file ${file}: name it NNNN_lowercase_name.sql`);
    const sql = readFileSync(`${dir}/${file}`, 'utf8');
    return { version: file.slice(0, -'.sql'.length), sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

/** Applies what is pending; returns the versions it applied (empty when the schema is current). */
export async function migrate(db: SqlClient, migrations: readonly Migration[] = readMigrations()): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS fhirgw_schema_migrations (
      version text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const rows = await tx.query<{ version: string; checksum: string }>('SELECT version, checksum FROM fhirgw_schema_migrations');
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    const done: string[] = [];
    for (const m of migrations) {
      const checksum = applied.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) throw new MigrationError(`migration ${m.version} was changed after it was applied`);
        continue;
      }
      await tx.exec(m.sql);
      await tx.query('INSERT INTO fhirgw_schema_migrations (version, checksum) VALUES ($1, $2)', [m.version, m.checksum]);
      done.push(m.version);
    }
    return done;
  });
}
