import { Pool, type PoolClient } from 'pg';
import { isServerReported } from './ledger-errors';
import type { QueryOptions, SqlDatabase, SqlRunner, TransactionOptions } from './sql';

function runner(client: Pool | PoolClient, timeoutMs?: number, onClientError?: (e: unknown) => void): SqlRunner {
  const run = async (config: { text: string; values?: unknown[]; name?: string }) => {
    try {
      return await client.query({ ...config, ...(timeoutMs ? { query_timeout: timeoutMs } : {}) });
    } catch (e) {
      if (!isServerReported(e)) onClientError?.(e);
      throw e;
    }
  };
  return {
    async query<T>(text: string, params?: unknown[], options?: QueryOptions) {
      const result = await run({ text, values: params, ...(options?.name ? { name: options.name } : {}) });
      return result.rows as T[];
    },
    async exec(text: string) {
      await run({ text });
    },
  };
}

export interface PostgresOptions {
  readonly poolSize: number;
  /**
   * How long to wait for a connection and, client-side, for the answer to a query: a dead or hung
   * server costs a request at most this long (then 503). Bulk transactions pass their own, longer bound.
   */
  readonly timeoutMs: number;
}

export function openPostgres(connectionString: string, options: PostgresOptions): { db: SqlDatabase; pool: Pool } {
  const pool = new Pool({
    connectionString,
    max: options.poolSize,
    connectionTimeoutMillis: options.timeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'mtls-ca',
    keepAlive: true,
    query_timeout: options.timeoutMs,
    // Nothing may hold a connection or a lock forever: a stuck statement or a half-dead client ends.
    statement_timeout: 60_000,
    idle_in_transaction_session_timeout: 60_000,
  });
  // A dropped idle connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db: SqlDatabase = {
    kind: 'postgres',
    ...runner(pool),
    async transaction(fn, txOptions?: TransactionOptions) {
      const client = await pool.connect();
      // The connection failed under us (lost, or a query timed out with no answer): it is discarded,
      // not rolled back (a ROLLBACK would wait behind the unanswered query); the server rolls back.
      let broken: Error | undefined;
      const markBroken = (e: unknown) => (broken ??= e instanceof Error ? e : new Error(String(e)));
      // A checked-out client has no pool listener: without this, a connection lost mid-transaction
      // emits 'error' with nobody listening, which ends the process.
      client.on('error', markBroken);
      const tx = runner(client, txOptions?.timeoutMs, markBroken);
      try {
        await tx.query('BEGIN');
        const result = await fn(tx);
        await tx.query('COMMIT');
        return result;
      } catch (e) {
        if (!broken) await tx.query('ROLLBACK').catch(markBroken);
        throw e;
      } finally {
        client.off('error', markBroken);
        client.release(broken);
      }
    },
    async close() {
      if (!pool.ended) await pool.end();
    },
  };
  return { db, pool };
}
