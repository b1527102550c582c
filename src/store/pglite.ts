import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { boundHeapGrowth, compileWebAssemblyOptimisedOnly } from './embedded-memory';
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
 * PostgreSQL settings of the embedded database, as start parameters (postgresql.conf, with initdb's
 * settings, stays as it is). Its shared buffers live in the process's memory (the WebAssembly heap) and
 * are all touched at start: PostgreSQL's default 128 MB would be most of the service's memory. The
 * files behind them stay in the operating system's page cache.
 */
export const PGLITE_SETTINGS = ['-c', 'shared_buffers=16MB'];

/**
 * Creates the database cluster in a new data directory (initdb) in a child process: initdb's memory
 * (~600 MB of WebAssembly heap that PGlite keeps for the life of the process) goes back to the system
 * with the child, so the service's peak memory is that of running, not of creating, the database.
 */
async function initdbInChild(dataDir: string): Promise<void> {
  if (await fs.stat(path.join(dataDir, 'PG_VERSION')).then(() => true, () => false)) return;
  const code = `const { PGlite } = require(${JSON.stringify(require.resolve('@electric-sql/pglite'))});
    const db = new PGlite(process.argv[1], { startParams: [...PGlite.defaultStartParams, ...${JSON.stringify(PGLITE_SETTINGS)}] });
    db.waitReady.then(() => db.close()).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
  await promisify(execFile)(process.execPath, ['-e', code, dataDir], { timeout: 300_000 });
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
  if (dataDir) await initdbInChild(dataDir);
  compileWebAssemblyOptimisedOnly();
  boundHeapGrowth();
  const options = { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS] };
  const pglite = dataDir ? new PGlite(dataDir, options) : new PGlite(options);
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
