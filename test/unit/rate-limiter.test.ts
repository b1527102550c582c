import { CaError } from '../../src/domain/errors';
import { AuthGuard, type AuthGuardRules } from '../../src/services/auth-guard';
import { RateLimiter, type RateLimiterParams, type RateLimitSqlClient } from '../../src/services/rate-limiter';
import { openLedger, type Ledger } from '../../src/store/ledger';
import { RATE_LIMIT_TABLE, rateLimitSqlClient } from '../../src/store/rate-limit-repository';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';
import { startTcpProxy, viaProxy } from '../helpers/tcp-proxy';

const rule = { scope: 's', limit: 3, windowMs: 1000 };

/** rate-limiter-flexible reads Date.now(); the tests move it by hand. */
let now = 0;
beforeEach(() => {
  now = 1_000_000;
  jest.spyOn(Date, 'now').mockImplementation(() => now);
});
afterEach(() => jest.restoreAllMocks());

async function admitted(limiter: RateLimiter, n: number, id = 'ip'): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((await limiter.take(rule, id)).allowed);
  return out;
}

/** Counts the statements the limiter sends; fails them all while `failing`. */
function spying(inner: RateLimitSqlClient) {
  const state = { calls: 0, failing: false };
  const client: RateLimitSqlClient = {
    query: (q) => {
      state.calls++;
      return state.failing ? Promise.reject(new Error('database down')) : inner.query(q);
    },
  };
  return { client, state };
}

type StoreKind = 'memory' | 'pglite' | 'postgres';

/** A database of its own for the describe block (none for 'memory'), opened before and dropped after it. */
function databaseFor(kind: StoreKind): { db?: TestDatabase; ledger?: Ledger } {
  const state: { db?: TestDatabase; ledger?: Ledger } = {};
  beforeAll(async () => {
    if (kind === 'memory') return;
    state.db = await createTestDatabase(kind);
    state.ledger = await openLedger(state.db.target);
  }, 120_000); // the first PGlite of a worker (WASM start) is slow on a loaded 2-core machine
  afterAll(async () => {
    await state.ledger?.close();
    await state.db?.drop();
  });
  return state;
}

// 'memory': no store (the embedded database's setting); 'pglite' and 'postgres': RateLimiterPostgres on that database.
describe.each<StoreKind>(['memory', ...backends()])('RateLimiter (%s)', (kind) => {
  const database = databaseFor(kind);
  beforeEach(async () => {
    await database.ledger?.sql.query(`DELETE FROM ${RATE_LIMIT_TABLE}`);
  });

  const make = (extra: Partial<RateLimiterParams> = {}) =>
    new RateLimiter({ store: database.ledger && { client: rateLimitSqlClient(database.ledger.sql), tableName: RATE_LIMIT_TABLE }, ...extra });

  it('admits `limit` requests per window and says how long to wait', async () => {
    const limiter = make();
    now = 10_000;
    expect(await admitted(limiter, 3)).toEqual([true, true, true]);
    now += 300;
    // Refused requests count too: with 4 this window, one more fits once it weighs ≤ 2, 1.2 s from now.
    expect(await limiter.take(rule, 'ip')).toEqual({ allowed: false, retryAfterSeconds: 2 });
    expect((await limiter.take(rule, 'other')).allowed).toBe(true);
    // A whole window later the old count no longer weighs.
    now = 12_000;
    expect(await admitted(limiter, 3)).toEqual([true, true, true]);
  });

  it('does not let twice the limit through on both sides of a window edge', async () => {
    const limiter = make();
    now = 20_999;
    expect(await admitted(limiter, 3)).toEqual([true, true, true]);
    now = 21_001; // the next aligned window: the old fixed window would admit 3 more here
    expect(await admitted(limiter, 3)).toEqual([false, false, false]);
    // As the window of those refusals slides out, room comes back.
    now = 22_500;
    expect(await admitted(limiter, 2)).toEqual([true, false]);
  });

  it('turns a rule with limit 0 off', async () => {
    const limiter = make();
    for (let i = 0; i < 20; i++) expect((await limiter.take({ ...rule, limit: 0 }, 'a')).allowed).toBe(true);
  });

  it('reports every rejection with its scope', async () => {
    const rejected: string[] = [];
    const limiter = make({ onRejected: (s) => rejected.push(s) });
    await admitted(limiter, 5);
    expect(rejected).toEqual(['s', 's']);
  });

  if (kind === 'memory') return;

  it('shares one count between replicas on one database', async () => {
    const one = make();
    const two = make();
    now = 30_500;
    const results: boolean[] = [];
    for (let i = 0; i < 4; i++) results.push((await one.take(rule, 'ip')).allowed, (await two.take(rule, 'ip')).allowed);
    expect(results.filter(Boolean)).toHaveLength(3);
  });

  it('refuses a flood in memory without asking the database again', async () => {
    const { client, state } = spying(rateLimitSqlClient(database.ledger!.sql));
    const limiter = new RateLimiter({ store: { client, tableName: RATE_LIMIT_TABLE } });
    now = 40_500;
    await admitted(limiter, 100);
    // 3 admitted (a count and one read of the previous window) and one past the limit; then memory refuses.
    expect(state.calls).toBeLessThanOrEqual(6);
  });

  it('lets the in-memory insurance limiter decide while the database fails', async () => {
    const { client, state } = spying(rateLimitSqlClient(database.ledger!.sql));
    const failures: unknown[] = [];
    const limiter = new RateLimiter({ store: { client, tableName: RATE_LIMIT_TABLE }, onStoreFailure: (e) => failures.push(e) });
    state.failing = true;
    now = 50_500;
    expect(await admitted(limiter, 5)).toEqual([true, true, true, false, false]);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toEqual(new Error('database down'));
  });

  if (kind !== 'postgres') return;

  it('falls back to the insurance limiter when PostgreSQL is cut off, and shares counts again once it is back', async () => {
    const target = new URL(database.db!.url!);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaCut = await openLedger({ kind: 'postgres', url: viaProxy(database.db!.url!, proxy), poolSize: 2, timeoutMs: 1000 });
    try {
      const failures: unknown[] = [];
      const limiter = new RateLimiter({
        store: { client: rateLimitSqlClient(viaCut.sql), tableName: RATE_LIMIT_TABLE },
        onStoreFailure: (e) => failures.push(e),
      });
      proxy.cut();
      now = 60_500;
      expect(await admitted(limiter, 5)).toEqual([true, true, true, false, false]);
      expect(failures.length).toBeGreaterThan(0);
      proxy.restore();
      now = 70_500;
      const other = make(); // a replica that never lost the database
      expect(await admitted(other, 2, 'back')).toEqual([true, true]);
      expect(await admitted(limiter, 2, 'back')).toEqual([true, false]);
    } finally {
      await viaCut.close();
      await proxy.close();
    }
  });
});

describe.each<StoreKind>(['memory', ...backends()])('AuthGuard (%s)', (kind) => {
  const database = databaseFor(kind);

  const rules: AuthGuardRules = {
    failuresPerKeyAndIp: 3,
    failuresPerIp: 5,
    failureWindowMs: 60_000,
    maxBlockMs: 200_000,
    perKey: { scope: 'key', limit: 0, windowMs: 1000 },
  };
  const make = () =>
    new AuthGuard(new RateLimiter({ store: database.ledger && { client: rateLimitSqlClient(database.ledger.sql), tableName: RATE_LIMIT_TABLE } }), rules);

  /** Fails `n` attempts of (appKey, ip); the status of each check. */
  async function fail(guard: AuthGuard, appKey: string, ip: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) await guard.failed(await guard.beforeAuthenticate(appKey, ip));
  }
  async function retryAfter(guard: AuthGuard, appKey: string, ip: string): Promise<number | null> {
    try {
      await guard.beforeAuthenticate(appKey, ip);
      return null;
    } catch (e) {
      if (!(e instanceof CaError) || e.kind !== 'too-many-requests') throw e;
      return e.retryAfterSeconds ?? -1;
    }
  }

  it('blocks a pair after its limit, doubling each block up to the maximum', async () => {
    const guard = make();
    now = 1_000_000;
    await fail(guard, 'k1', '192.0.2.1', 3);
    expect(await retryAfter(guard, 'k1', '192.0.2.1')).toBe(60);
    // Another address, and another key from this address, are not affected.
    expect(await retryAfter(guard, 'k1', '192.0.2.2')).toBeNull();
    now += 60_000;
    await fail(guard, 'k1', '192.0.2.1', 3);
    expect(await retryAfter(guard, 'k1', '192.0.2.1')).toBe(120);
    now += 120_000;
    await fail(guard, 'k1', '192.0.2.1', 3);
    expect(await retryAfter(guard, 'k1', '192.0.2.1')).toBe(200); // capped (240 otherwise)
  });

  it('blocks an address that sprays appKeys, and only that address', async () => {
    const guard = make();
    now = 5_000_000;
    for (let i = 0; i < 5; i++) await fail(guard, `guess-${i}`, '198.51.100.7', 1);
    expect(await retryAfter(guard, 'guess-99', '198.51.100.7')).toBe(60);
    expect(await retryAfter(guard, 'guess-99', '198.51.100.8')).toBeNull();
  });

  it('forgets the failures of a pair once it authenticates (they count in a row)', async () => {
    const guard = make();
    now = 9_000_000;
    await fail(guard, 'k2', '192.0.2.9', 2);
    await guard.admitted(await guard.beforeAuthenticate('k2', '192.0.2.9'));
    await fail(guard, 'k2', '192.0.2.9', 2);
    expect(await retryAfter(guard, 'k2', '192.0.2.9')).toBeNull();
  });
});
