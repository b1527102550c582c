import { Pool, type PoolClient } from 'pg';
import type { QueryOptions, SqlDatabase, SqlRunner } from './sql';

function runner(client: Pool | PoolClient): SqlRunner {
  return {
    async query<T>(text: string, params?: unknown[], options?: QueryOptions) {
      const result = options?.name ? await client.query({ name: options.name, text, values: params }) : await client.query(text, params);
      return result.rows as T[];
    },
    async exec(text: string) {
      await client.query(text);
    },
  };
}

export function openPostgres(connectionString: string, poolSize: number): { db: SqlDatabase; pool: Pool } {
  const pool = new Pool({
    connectionString,
    max: poolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'mtls-ca',
    keepAlive: true,
    // Nothing may hold a connection or a lock forever: a stuck statement or a half-dead client ends.
    statement_timeout: 60_000,
    query_timeout: 65_000,
    idle_in_transaction_session_timeout: 60_000,
  });
  // A dropped idle connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db: SqlDatabase = {
    kind: 'postgres',
    ...runner(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(runner(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      if (!pool.ended) await pool.end();
    },
  };
  return { db, pool };
}
