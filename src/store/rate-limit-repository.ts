import type { RateLimitSqlClient } from '../services/rate-limiter';
import type { SqlRunner } from './sql';

/** The table of migration 0007, where RateLimiterPostgres keeps every limiter's rows (keyed by prefix). */
export const RATE_LIMIT_TABLE = 'rate_limits';

/**
 * The ledger's SQL in the shape RateLimiterPostgres calls (pg's `client.query(config)`), so the limiter
 * runs on the ledger's own pool (PostgreSQL) or embedded database (PGlite), with its timeouts.
 * `expire` is a bigint: pg answers it as a string and PGlite may as a BigInt; the library wants a number.
 */
export function rateLimitSqlClient(sql: SqlRunner): RateLimitSqlClient {
  return {
    async query({ text, values, name }) {
      const rows = await sql.query<{ points?: unknown; expire?: unknown }>(text, values, name ? { name } : undefined);
      const normalised = rows.map((row) => ({
        ...row,
        ...('points' in row ? { points: Number(row.points) } : {}),
        ...('expire' in row ? { expire: row.expire === null ? null : Number(row.expire) } : {}),
      }));
      return { rows: normalised, rowCount: rows.length };
    },
  };
}
