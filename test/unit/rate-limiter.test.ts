import { FixedClock } from '../../src/domain/clock';
import { RateLimiter, type SharedCounterStore } from '../../src/services/rate-limiter';

/** An in-process stand-in for the PostgreSQL counters, to show how local and shared counts combine. */
class CountingStore implements SharedCounterStore {
  readonly counts = new Map<string, number>();
  calls = 0;
  failing = false;
  async add(bucket: string, windowStart: number, hits: number): Promise<number> {
    this.calls++;
    if (this.failing) throw new Error('database down');
    const key = `${bucket}@${windowStart}`;
    const total = (this.counts.get(key) ?? 0) + hits;
    this.counts.set(key, total);
    return total;
  }
  async get(bucket: string, windowStart: number): Promise<number> {
    return this.counts.get(`${bucket}@${windowStart}`) ?? 0;
  }
  async sweep(): Promise<void> {}
}

const rule = { scope: 's', limit: 3, windowMs: 1000 };

describe('RateLimiter', () => {
  it('admits `limit` requests per fixed window and says how long to wait', async () => {
    const clock = new FixedClock(new Date(10_000));
    const limiter = new RateLimiter({ clock });
    for (let i = 0; i < 3; i++) expect(await limiter.take(rule, 'a')).toEqual({ allowed: true });
    clock.advance(300);
    expect(await limiter.take(rule, 'a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(await limiter.take(rule, 'b')).toEqual({ allowed: true });
    clock.advance(700);
    expect(await limiter.take(rule, 'a')).toEqual({ allowed: true });
  });

  it('rounds Retry-After up to whole seconds of the window left', async () => {
    const clock = new FixedClock(new Date(60_000 * 7 + 1500));
    const limiter = new RateLimiter({ clock });
    const minute = { scope: 'm', limit: 1, windowMs: 60_000 };
    await limiter.take(minute, 'x');
    expect(await limiter.take(minute, 'x')).toEqual({ allowed: false, retryAfterSeconds: 59 });
  });

  it('turns a rule with limit 0 off', async () => {
    const limiter = new RateLimiter({ clock: new FixedClock(new Date(0)) });
    for (let i = 0; i < 100; i++) expect((await limiter.take({ ...rule, limit: 0 }, 'a')).allowed).toBe(true);
  });

  it('decides by the shared total, so replicas together stay under the limit', async () => {
    const clock = new FixedClock(new Date(5000));
    const store = new CountingStore();
    const one = new RateLimiter({ clock, shared: store });
    const two = new RateLimiter({ clock, shared: store });
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await one.take(rule, 'ip')).allowed, (await two.take(rule, 'ip')).allowed);
    expect(results.filter(Boolean)).toHaveLength(3);
  });

  it('refuses a flood locally without asking the shared store again', async () => {
    const store = new CountingStore();
    const limiter = new RateLimiter({ clock: new FixedClock(new Date(5000)), shared: store });
    for (let i = 0; i < 1000; i++) await limiter.take(rule, 'ip');
    expect(store.calls).toBe(3);
  });

  it('keeps limiting by the local count when the shared store fails', async () => {
    const store = new CountingStore();
    store.failing = true;
    const failures: unknown[] = [];
    const limiter = new RateLimiter({ clock: new FixedClock(new Date(5000)), shared: store, onSharedFailure: (e) => failures.push(e) });
    const allowed = [];
    for (let i = 0; i < 5; i++) allowed.push((await limiter.take(rule, 'ip')).allowed);
    expect(allowed).toEqual([true, true, true, false, false]);
    expect(failures).toHaveLength(3);
  });

  it('reports rejections and forgets finished windows', async () => {
    const clock = new FixedClock(new Date(5000));
    const rejected: string[] = [];
    const limiter = new RateLimiter({ clock, onRejected: (s) => rejected.push(s), maxBuckets: 10 });
    for (let i = 0; i < 10; i++) await limiter.take(rule, `client-${i}`);
    // The table is full for this window: a new client is refused (fail closed)...
    expect((await limiter.take(rule, 'client-new')).allowed).toBe(false);
    expect(rejected).toEqual(['s']);
    // ...and admitted once the window has moved on and old counts are dropped.
    clock.advance(1000);
    expect((await limiter.take(rule, 'client-new')).allowed).toBe(true);
  });

  it('exceeded() reads without counting', async () => {
    const limiter = new RateLimiter({ clock: new FixedClock(new Date(5000)) });
    for (let i = 0; i < 3; i++) expect((await limiter.exceeded(rule, 'k')).allowed).toBe(true);
    await limiter.count(rule, 'k');
    await limiter.count(rule, 'k');
    expect((await limiter.exceeded(rule, 'k')).allowed).toBe(true);
    await limiter.count(rule, 'k');
    expect(await limiter.exceeded(rule, 'k')).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });
});
