import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** What RateLimiterPostgres calls on its `storeClient` (pg's `client.query(config)` and its answer). */
export interface RateLimitSqlClient {
  query(q: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: unknown[]; rowCount: number }>;
}

export interface RateRule {
  /** Name of what is limited, e.g. `sign-ip`; the key prefix of its rows and the metrics label. */
  readonly scope: string;
  /** Requests allowed per window; 0 turns the rule off. */
  readonly limit: number;
  readonly windowMs: number;
}

export type RateRefusal = { allowed: false; retryAfterSeconds: number };
export type RateDecision = { allowed: true } | RateRefusal;

/** A rate-limiter-flexible limiter (see `RateLimiter.counter`). */
export interface CounterParams {
  readonly keyPrefix: string;
  readonly points: number;
  readonly durationMs: number;
  /** Once a key has consumed this many points, this process refuses it without asking the database. */
  readonly inMemoryBlockOnConsumed?: number;
}

export interface RateLimiterParams {
  /** The shared table (RateLimiterPostgres, migration 0007); absent: counts live in this process only. */
  store?: { client: RateLimitSqlClient; tableName: string };
  /** Called on every rejection (metrics). */
  onRejected?: (scope: string) => void;
  /** Called when the store fails and the in-memory insurance limiter decided instead. */
  onStoreFailure?: (err: unknown) => void;
  /** Upper bound of finished-window counts remembered per process. */
  maxCachedWindows?: number;
}

const ALLOWED: RateDecision = { allowed: true };
const ROW_SLACK_MS = 10_000;

/**
 * Request limits on rate-limiter-flexible: RateLimiterPostgres on the ledger's table, so every replica
 * shares one count, insured by a RateLimiterMemory that decides alone while the database fails; without
 * a store (one process on the embedded database), RateLimiterMemory alone.
 *
 * A rule is a sliding window over two aligned windows (the library counts each): a request is admitted
 * while `previous × (share of the previous window still inside the last windowMs) + current ≤ limit`,
 * so a client cannot get twice the limit through by sending it on both sides of a window edge.
 *
 * Time is `Date.now()`, the library's clock (it cannot take ours); tests fix it with a spy.
 */
export class RateLimiter {
  private readonly counters = new Map<string, RateLimiterAbstract>();
  /** Counts of finished windows (they no longer change), so a request costs one query, not two. */
  private readonly finished = new Map<string, number>();
  private readonly client: RateLimitSqlClient | undefined;
  /** Whether a limiter already clears the table's expired rows (one is enough for the whole table). */
  private clearingExpired = false;

  constructor(private readonly params: RateLimiterParams) {
    const store = params.store;
    this.client = store && {
      query: (q) =>
        store.client.query(q).catch((err: unknown) => {
          this.params.onStoreFailure?.(err);
          throw err;
        }),
    };
  }

  /** A library limiter on the shared table (in memory without one), insured by an in-memory limiter. */
  counter(params: CounterParams): RateLimiterAbstract {
    const base = { keyPrefix: params.keyPrefix, points: params.points, duration: params.durationMs / 1000 };
    const insurance = new RateLimiterMemory(base);
    if (!this.client || !this.params.store) return insurance;
    // The first limiter deletes expired rows of the whole table every 5 minutes (an unref'd timer).
    const clearExpiredByTimeout = !this.clearingExpired;
    this.clearingExpired = true;
    return new RateLimiterPostgres({
      ...base,
      storeClient: this.client,
      storeType: 'client',
      tableName: this.params.store.tableName,
      tableCreated: true,
      clearExpiredByTimeout,
      insuranceLimiter: insurance,
      inMemoryBlockOnConsumed: params.inMemoryBlockOnConsumed,
    });
  }

  /** Counts one request against `rule` for `id`; says whether it may proceed. */
  async take(rule: RateRule, id: string): Promise<RateDecision> {
    if (rule.limit <= 0) return ALLOWED;
    const counter = this.counterOf(rule);
    const now = Date.now();
    const window = Math.floor(now / rule.windowMs);
    const elapsed = (now - window * rule.windowMs) / rule.windowMs;
    let current: number;
    try {
      current = (await counter.consume(`${id}:${window}`)).consumedPoints;
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      // Over the limit in this window alone (or blocked in memory: the count is past it).
      current = Math.max(refusal.consumedPoints, rule.limit + 1);
    }
    const previous = current > rule.limit ? 0 : await this.previousCount(counter, rule, id, window);
    if (previous * (1 - elapsed) + current <= rule.limit) return ALLOWED;
    return this.refused(rule.scope, secondsUntilAdmitted(rule, current, previous, elapsed));
  }

  /** Reports a rejection (metrics) and answers it. */
  refused(scope: string, retryAfterSeconds: number): RateRefusal {
    this.params.onRejected?.(scope);
    return { allowed: false, retryAfterSeconds };
  }

  private counterOf(rule: RateRule): RateLimiterAbstract {
    let counter = this.counters.get(rule.scope);
    if (!counter) {
      // A window's row must live through the next window, whose sliding count still weighs it; rows are
      // named by window, so living longer changes no count. The slack covers replicas' clocks that differ
      // a little, and keeps RateLimiterMemory's expiry timer (real time) from dropping a row while a test
      // holds Date.now still.
      const durationMs = 2 * rule.windowMs + ROW_SLACK_MS;
      counter = this.counter({ keyPrefix: rule.scope, points: rule.limit, durationMs, inMemoryBlockOnConsumed: rule.limit + 1 });
      this.counters.set(rule.scope, counter);
    }
    return counter;
  }

  private async previousCount(counter: RateLimiterAbstract, rule: RateRule, id: string, window: number): Promise<number> {
    const key = `${rule.scope}:${id}:${window - 1}`;
    const cached = this.finished.get(key);
    if (cached !== undefined) return cached;
    const res = await counter.get(`${id}:${window - 1}`);
    const count = res && res.msBeforeNext > 0 ? res.consumedPoints : 0;
    if (this.finished.size >= (this.params.maxCachedWindows ?? 100_000)) this.finished.clear();
    this.finished.set(key, count);
    return count;
  }
}

/** Whole seconds (at least 1) until one more request fits the sliding window, if the client waits. */
function secondsUntilAdmitted(rule: RateRule, current: number, previous: number, elapsed: number): number {
  const { limit, windowMs } = rule;
  const waitMs =
    current < limit && previous > 0
      ? // Later in this window, once less of the previous one overlaps.
        (1 - (limit - current - 1) / previous - elapsed) * windowMs
      : // In the next window, once this one's weight has shrunk enough.
        (1 - elapsed + 1 - (limit - 1) / Math.max(current, limit)) * windowMs;
  return Math.max(1, Math.ceil(waitMs / 1000));
}
