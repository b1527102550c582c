import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { SqlDatabase, SqlRunner } from './sql';

function runner(client: PGlite | Transaction): SqlRunner {
  return {
    async query<T>(text: string, params?: unknown[]) {
      const result = await client.query<T>(text, params);
      return result.rows;
    },
    async exec(text: string) {
      await client.exec(text);
    },
  };
}

/** The embedded database: a data directory, or memory when `dataDir` is undefined (tests). */
export async function openPglite(dataDir: string | undefined): Promise<{ db: SqlDatabase; pglite: PGlite }> {
  const pglite = dataDir ? new PGlite(dataDir) : new PGlite();
  await pglite.waitReady;
  const db: SqlDatabase = {
    kind: 'pglite',
    ...runner(pglite),
    transaction: (fn) => pglite.transaction((tx) => fn(runner(tx))),
    async close() {
      if (!pglite.closed) await pglite.close();
    },
  };
  return { db, pglite };
}
