import type { Clock } from '../domain/clock';

/** Counters several replicas share (PostgreSQL); `add` returns the bucket's total for the window. */
export interface SharedCounterStore {
  add(bucket: string, windowStart: number, hits: number): Promise<number>;
  /** The bucket's total for the window (0 when none). */
  get(bucket: string, windowStart: number): Promise<number>;
  /** Forgets windows that started before `before` (ms since the epoch). */
  sweep(before: number): Promise<void>;
}

export interface RateRule {
  /** Name of what is limited, e.g. `sign-ip`; part of the bucket key and the metrics label. */
  readonly scope: string;
  /** Requests allowed per window; 0 turns the rule off. */
  readonly limit: number;
  readonly windowMs: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiterParams {
  clock: Clock;
  /** Absent: counts are per process (the embedded database runs one process). */
  shared?: SharedCounterStore;
  /** Called on every rejection (metrics). */
  onRejected?: (scope: string) => void;
  /** Called when the shared store fails and the local count decided alone. */
  onSharedFailure?: (err: unknown) => void;
  /** Upper bound of buckets held in memory per window; new buckets beyond it are refused (fail closed). */
  maxBuckets?: number;
}

const ALLOWED: RateDecision = { allowed: true };
/** How long `exceeded` trusts a read of the shared counters. */
const SHARED_READ_REUSE_MS = 250;

/**
 * Fixed-window counters. Each process counts locally first, so a flood from one client is refused
 * without touching the database; what passes the local count is added to the shared PostgreSQL
 * counter, so the limit holds across replicas. If the shared store fails, the local count decides.
 */
export class RateLimiter {
  private readonly local = new Map<string, number>();
  private readonly sharedReads = new Map<string, { total: number; until: number }>();
  private localWindows = new Map<number, number>();
  private lastSweep = 0;
  private readonly maxBuckets: number;

  constructor(private readonly params: RateLimiterParams) {
    this.maxBuckets = params.maxBuckets ?? 100_000;
  }

  /** Counts one request against `rule` for `id`; says whether it may proceed. */
  take(rule: RateRule, id: string): Promise<RateDecision> {
    return this.add(rule, id, true);
  }

  /** Counts one failure without deciding anything (the wrong-token throttle reads with `exceeded`). */
  async count(rule: RateRule, id: string): Promise<void> {
    await this.add(rule, id, false);
  }

  private async add(rule: RateRule, id: string, report: boolean): Promise<RateDecision> {
    if (rule.limit <= 0) return ALLOWED;
    const { now, windowStart, retryAfterSeconds, bucket, key } = this.windowOf(rule, id);
    const refuse = () => (report ? this.reject(rule, retryAfterSeconds) : { allowed: false as const, retryAfterSeconds });
    this.forgetOldWindows(now);

    const seen = this.local.get(key);
    if (seen === undefined && this.local.size >= this.maxBuckets) return refuse();
    const localCount = (seen ?? 0) + 1;
    this.local.set(key, localCount);
    this.localWindows.set(windowStart, Math.max(this.localWindows.get(windowStart) ?? 0, windowStart + rule.windowMs));
    if (localCount > rule.limit) return refuse();

    if (this.params.shared) {
      try {
        const total = await this.params.shared.add(bucket, windowStart, 1);
        if (total > rule.limit) return refuse();
      } catch (err) {
        this.params.onSharedFailure?.(err);
      }
    }
    return ALLOWED;
  }

  /** The fixed window `now` falls in, and the keys of `id`'s counter in it. */
  private windowOf(rule: RateRule, id: string) {
    const now = this.params.clock.now().getTime();
    const windowStart = now - (now % rule.windowMs);
    const retryAfterSeconds = Math.max(1, Math.ceil((windowStart + rule.windowMs - now) / 1000));
    const bucket = `${rule.scope}:${id}`;
    return { now, windowStart, retryAfterSeconds, bucket, key: `${windowStart}|${bucket}` };
  }

  /** Refuses when `id` has already used up `rule` in this window (does not count). */
  async exceeded(rule: RateRule, id: string): Promise<RateDecision> {
    if (rule.limit <= 0) return ALLOWED;
    const { now, windowStart, retryAfterSeconds, bucket, key } = this.windowOf(rule, id);
    let total = this.local.get(key) ?? 0;
    if (this.params.shared && total < rule.limit) {
      // Reads of other replicas' counts are reused briefly: this runs on every authenticated request.
      const cached = this.sharedReads.get(key);
      if (cached && cached.until > now) total = Math.max(total, cached.total);
      else {
        try {
          const shared = await this.params.shared.get(bucket, windowStart);
          if (this.sharedReads.size >= this.maxBuckets) this.sharedReads.clear();
          this.sharedReads.set(key, { total: shared, until: now + SHARED_READ_REUSE_MS });
          total = Math.max(total, shared);
        } catch (err) {
          this.params.onSharedFailure?.(err);
        }
      }
    }
    return total >= rule.limit ? this.reject(rule, retryAfterSeconds) : ALLOWED;
  }

  private reject(rule: RateRule, retryAfterSeconds: number): RateDecision {
    this.params.onRejected?.(rule.scope);
    return { allowed: false, retryAfterSeconds };
  }

  /** Drops local counts of finished windows; sweeps the shared table now and then. */
  private forgetOldWindows(now: number): void {
    let stale = false;
    for (const end of this.localWindows.values()) if (end <= now) stale = true;
    if (stale) {
      for (const [key] of this.local) {
        const start = Number(key.slice(0, key.indexOf('|')));
        const end = this.localWindows.get(start);
        if (end === undefined || end <= now) this.local.delete(key);
      }
      this.localWindows = new Map([...this.localWindows].filter(([, end]) => end > now));
      for (const [key, read] of this.sharedReads) if (read.until <= now) this.sharedReads.delete(key);
    }
    if (this.params.shared && now - this.lastSweep > 10_000) {
      this.lastSweep = now;
      void this.params.shared.sweep(now - 86_400_000 - 60_000).catch((err) => this.params.onSharedFailure?.(err));
    }
  }
}
