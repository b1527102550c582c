import { promises as fs } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { OWNER_DIR_MODE, restrictToOwner } from './data-dir-modes';
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

/**
 * The embedded database: a data directory, or memory when `dataDir` is undefined (tests). The
 * directory is owner-only (0700) before PGlite starts, and its files are made owner-only once it is
 * ready: PGlite's initdb writes them 0666, and earlier versions left them so.
 */
export async function openPglite(dataDir: string | undefined): Promise<{ db: SqlDatabase; pglite: PGlite }> {
  if (dataDir) {
    await fs.mkdir(dataDir, { recursive: true, mode: OWNER_DIR_MODE });
    await fs.chmod(dataDir, OWNER_DIR_MODE);
  }
  const pglite = dataDir ? new PGlite(dataDir) : new PGlite();
  await pglite.waitReady;
  if (dataDir) {
    try {
      await restrictToOwner(dataDir);
    } catch (e) {
      await pglite.close().catch(() => undefined);
      throw e;
    }
  }
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
