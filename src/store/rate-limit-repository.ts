import type { SharedCounterStore } from '../services/rate-limiter';
import type { SqlRunner } from './sql';

/** The rate limiter's counters in PostgreSQL (migration 0006), shared by every replica. */
export class RateLimitRepository implements SharedCounterStore {
  constructor(private readonly sql: SqlRunner) {}

  async add(bucket: string, windowStart: number, hits: number): Promise<number> {
    const rows = await this.sql.query<{ hits: number }>(
      `INSERT INTO rate_limit_counters (bucket, window_start, hits) VALUES ($1, $2, $3)
       ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_counters.hits + EXCLUDED.hits
       RETURNING hits`,
      [bucket, windowStart, hits],
      { name: 'rate_limit_add' },
    );
    return Number(rows[0]?.hits ?? hits);
  }

  async get(bucket: string, windowStart: number): Promise<number> {
    const rows = await this.sql.query<{ hits: number }>(
      'SELECT hits FROM rate_limit_counters WHERE bucket = $1 AND window_start = $2',
      [bucket, windowStart],
      { name: 'rate_limit_get' },
    );
    return Number(rows[0]?.hits ?? 0);
  }

  async sweep(before: number): Promise<void> {
    await this.sql.query('DELETE FROM rate_limit_counters WHERE window_start < $1', [before]);
  }
}
