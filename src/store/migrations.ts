import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { packagePath } from '../package-dir';
import { BULK_TIMEOUT_MS, type SqlDatabase } from './sql';

/** prisma/migrations of the package, found upwards from this file (src/, dist/ or another build dir). */
function findMigrationsDir(): string {
  const dir = packagePath(path.join('prisma', 'migrations'));
  if (!dir) throw new Error('cannot find prisma/migrations next to the mtls-ca package');
  return dir;
}

export const MIGRATIONS_DIR = findMigrationsDir();

/** Any fixed 64-bit number: the advisory lock under which replicas migrate one at a time. */
export const MIGRATION_LOCK_KEY = 7_270_381_155;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await fs.readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await fs.readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies the committed SQL migrations that are not applied yet, in order, in one transaction,
 * under a Postgres advisory lock so that replicas starting together do not race.
 * Refuses to start when an applied migration was edited afterwards.
 */
export async function migrate(db: SqlDatabase, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS "_mtls_ca_migrations" (
      "name" TEXT PRIMARY KEY, "checksum" TEXT NOT NULL, "applied_at" TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const applied = new Map(
      (await tx.query<{ name: string; checksum: string }>('SELECT name, checksum FROM "_mtls_ca_migrations"')).map((r) => [r.name, r.checksum]),
    );
    const done: string[] = [];
    for (const m of all) {
      const previous = applied.get(m.name);
      if (previous !== undefined) {
        if (previous !== m.checksum) throw new Error(`migration ${m.name} was changed after it was applied; add a new migration instead`);
        continue;
      }
      await tx.exec(m.sql);
      await tx.query('INSERT INTO "_mtls_ca_migrations" (name, checksum) VALUES ($1, $2)', [m.name, m.checksum]);
      done.push(m.name);
    }
    return done;
  }, { timeoutMs: BULK_TIMEOUT_MS });
}
