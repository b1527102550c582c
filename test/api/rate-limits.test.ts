import { FixedClock } from '../../src/domain/clock';
import { backends, createTestDatabase } from '../helpers/backends';
import { fixture, tempDir } from '../helpers/openssl';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';

const T0 = new Date('2026-03-01T12:00:00.000Z');
/** Starting a service (PGlite, a new CA) on a loaded 2-core machine can take long: a generous bound. */
const START_BOUND_MS = 120_000;
const WRONG = 'not-the-right-token-but-long-enough-0000000';

/** rate-limiter-flexible reads Date.now(): make it follow the service's fixed clock. */
function dateNowFollows(clock: FixedClock): void {
  jest.spyOn(Date, 'now').mockImplementation(() => clock.now().getTime());
}
afterAll(() => jest.restoreAllMocks());

const statuses = (rs: { status: number }[]) => rs.map((r) => r.status);

describe.each(backends())('abuse limits on %s', (backend) => {
  let csr: Buffer;
  beforeAll(async () => {
    csr = await fixture('ec-p256.csr');
  });

  const sign = (t: TestService, headers: Record<string, string>, extra: Record<string, string> = {}) =>
    t.http.post('/private-certificates/sign').set(headers).set(extra).set('Content-Type', 'text/plain').send(csr);
  const signMany = async (t: TestService, n: number, headers: Record<string, string>) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await sign(t, headers));
    return out;
  };

  describe('signing per client IP (default 10 per second)', () => {
    let t: TestService;
    const clock = new FixedClock(T0);
    beforeAll(async () => {
      // The defaults of the configuration, not the test harness's "off".
      t = await startTestService(backend, { clock, env: { RATE_LIMIT_SIGN_PER_IP: '10', RATE_LIMIT_PER_KEY: '0' } });
      dateNowFollows(clock);
    }, START_BOUND_MS);
    afterAll(() => t.close());

    it('answers the 11th request in one second with 429, Retry-After and a problem', async () => {
      clock.set(new Date(T0.getTime() + 1000 * 10 + 250));
      expect(statuses(await signMany(t, 10, t.admin))).toEqual(Array(10).fill(200));
      const refused = await sign(t, t.admin);
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toMatchObject({ type: 'urn:mtls-ca:problem:too-many-requests', status: 429 });
      const metrics = await t.http.get('/metrics');
      expect(metrics.text).toMatch(/^mtlsca_rate_limit_rejections_total\{scope="sign-ip"\} 1$/m);
      // Other endpoints are not limited by the signing rule.
      expect((await t.http.get('/private-certificates').set(t.admin)).status).toBe(200);
      // After Retry-After, admitted again.
      clock.advance(1000);
      expect((await sign(t, t.admin)).status).toBe(200);
    });

    it('does not admit the limit again right after a window edge (no 2x burst at the boundary)', async () => {
      clock.set(new Date(T0.getTime() + 1000 * 15 + 999));
      expect(statuses(await signMany(t, 10, t.admin))).toEqual(Array(10).fill(200));
      clock.advance(2); // into the next second: a fixed window would admit 10 more
      expect(statuses(await signMany(t, 10, t.admin))).toEqual(Array(10).fill(429));
    });

    it('counts requests that fail authentication or validation too (limited before any work)', async () => {
      clock.set(new Date(T0.getTime() + 1000 * 20));
      expect(statuses(await signMany(t, 10, {}))).toEqual(Array(10).fill(401));
      expect((await sign(t, t.admin)).status).toBe(429);
    });

    it('ignores X-Forwarded-For when TRUST_PROXY is off (a client cannot pick its own bucket)', async () => {
      clock.set(new Date(T0.getTime() + 1000 * 30));
      for (let i = 0; i < 10; i++) expect((await sign(t, t.admin, { 'X-Forwarded-For': `203.0.113.${i}` })).status).toBe(200);
      expect((await sign(t, t.admin, { 'X-Forwarded-For': '198.51.100.99' })).status).toBe(429);
    });
  });

  describe('behind a reverse proxy (TRUST_PROXY=true: one hop)', () => {
    let t: TestService;
    const clock = new FixedClock(T0);
    beforeAll(async () => {
      t = await startTestService(backend, { clock, env: { RATE_LIMIT_SIGN_PER_IP: '3', TRUST_PROXY: 'true' } });
      dateNowFollows(clock);
    }, START_BOUND_MS);
    afterAll(() => t.close());

    it('limits each forwarded client separately, by the hop the proxy added', async () => {
      clock.set(new Date(T0.getTime() + 5000));
      for (let i = 0; i < 3; i++) expect((await sign(t, t.admin, { 'X-Forwarded-For': '203.0.113.7' })).status).toBe(200);
      expect((await sign(t, t.admin, { 'X-Forwarded-For': '203.0.113.7' })).status).toBe(429);
      expect((await sign(t, t.admin, { 'X-Forwarded-For': '203.0.113.8' })).status).toBe(200);
      // A client that forges an earlier hop is still known by the address the proxy appended.
      expect((await sign(t, t.admin, { 'X-Forwarded-For': '10.9.9.9, 203.0.113.7' })).status).toBe(429);
    });
  });

  describe('per API key', () => {
    let t: TestService;
    const clock = new FixedClock(T0);
    beforeAll(async () => {
      t = await startTestService(backend, { clock, env: { RATE_LIMIT_PER_KEY: '5' } });
      dateNowFollows(clock);
    }, START_BOUND_MS);
    afterAll(() => t.close());

    it('answers 429 past the per-key rate on any authenticated endpoint, and only for that key', async () => {
      clock.set(new Date(T0.getTime() + 40_000));
      const other = await t.createKey('acme', ['role:tenant']); // one request of the admin key
      for (let i = 0; i < 4; i++) expect((await t.http.get('/private-certificates').set(t.admin)).status).toBe(200);
      const refused = await t.http.get('/keys').set(t.admin);
      expect(refused.status).toBe(429);
      // 6 counted this second: one more fits once they weigh ≤ 4, a third into the next second.
      expect(refused.headers['retry-after']).toBe('2');
      expect((await t.http.get('/private-certificates').set(other.headers)).status).toBe(200);
      clock.advance(2000);
      expect((await t.http.get('/keys').set(t.admin)).status).toBe(200);
    });
  });

  describe('failed authentication', () => {
    let t: TestService;
    const clock = new FixedClock(T0);
    beforeAll(async () => {
      t = await startTestService(backend, {
        clock,
        env: { AUTH_FAILURE_LIMIT: '5', AUTH_FAILURE_LIMIT_PER_IP: '8', AUTH_FAILURE_WINDOW_MS: '60000', AUTH_FAILURE_MAX_BLOCK_MS: '600000', TRUST_PROXY: '1' },
      });
      dateNowFollows(clock);
    }, START_BOUND_MS);
    afterAll(() => t.close());

    const list = (appKey: string, appToken: string, ip: string) =>
      t.http.get('/private-certificates').set({ 'X-API-AppKey': appKey, 'X-API-AppToken': appToken, 'X-Forwarded-For': ip });
    const attempts = async (n: number, appKey: string, appToken: string, ip: string) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(await list(appKey, appToken, ip));
      return out;
    };

    it('does not lock a key out for everyone: a flood of wrong tokens from one address blocks only that address', async () => {
      clock.set(new Date(T0.getTime() + 3_600_000));
      const flood = await attempts(50, ADMIN.appKey, WRONG, '198.51.100.1');
      expect(statuses(flood)).toEqual([...Array(5).fill(401), ...Array(45).fill(429)]);
      // The right token from an address that has not failed: at once.
      expect((await list(ADMIN.appKey, ADMIN.appToken, '198.51.100.2')).status).toBe(200);
      // From the flooding address: refused, with how long to wait.
      const blocked = await list(ADMIN.appKey, ADMIN.appToken, '198.51.100.1');
      expect(blocked.status).toBe(429);
      expect(blocked.body.type).toBe('urn:mtls-ca:problem:too-many-requests');
      expect(blocked.headers['retry-after']).toBe('60');
      clock.advance(60_000);
      expect((await list(ADMIN.appKey, ADMIN.appToken, '198.51.100.1')).status).toBe(200);
    });

    it('doubles the block each time the same address fails again, up to AUTH_FAILURE_MAX_BLOCK_MS', async () => {
      clock.set(new Date(T0.getTime() + 2 * 3_600_000));
      const ip = '198.51.100.3';
      const retryAfters: string[] = [];
      for (let round = 0; round < 5; round++) {
        expect(statuses(await attempts(5, 'backoff-key', WRONG, ip))).toEqual(Array(5).fill(401));
        const blocked = await list('backoff-key', WRONG, ip);
        expect(blocked.status).toBe(429);
        retryAfters.push(blocked.headers['retry-after']);
        clock.advance(Number(blocked.headers['retry-after']) * 1000);
      }
      expect(retryAfters).toEqual(['60', '120', '240', '480', '600']);
    });

    it('counts failures in a row: the right token clears them', async () => {
      clock.set(new Date(T0.getTime() + 3 * 3_600_000));
      const ip = '198.51.100.4';
      expect(statuses(await attempts(4, ADMIN.appKey, WRONG, ip))).toEqual(Array(4).fill(401));
      expect((await list(ADMIN.appKey, ADMIN.appToken, ip)).status).toBe(200);
      expect(statuses(await attempts(3, ADMIN.appKey, WRONG, ip))).toEqual(Array(3).fill(401));
      expect((await list(ADMIN.appKey, ADMIN.appToken, ip)).status).toBe(200);
    });

    it('blocks an address that sprays random appKeys, and only that address', async () => {
      clock.set(new Date(T0.getTime() + 4 * 3_600_000));
      const sprayed = [];
      for (let i = 0; i < 8; i++) sprayed.push(await list(`guess-${i}-key`, WRONG, '192.0.2.250'));
      expect(statuses(sprayed)).toEqual(Array(8).fill(401));
      expect((await list('guess-99-key', WRONG, '192.0.2.250')).status).toBe(429);
      expect((await list(ADMIN.appKey, ADMIN.appToken, '192.0.2.250')).status).toBe(429);
      expect((await list(ADMIN.appKey, ADMIN.appToken, '192.0.2.251')).status).toBe(200);
      expect((await list('guess-99-key', WRONG, '192.0.2.251')).status).toBe(401);
    });

    it('treats an unknown appKey exactly like a known one (same statuses, bodies, Retry-After)', async () => {
      clock.set(new Date(T0.getTime() + 5 * 3_600_000));
      const known = await attempts(7, ADMIN.appKey, WRONG, '192.0.2.1');
      const unknown = await attempts(7, 'no-such-key-anywhere', WRONG, '192.0.2.2');
      const view = (r: { status: number; body: unknown; headers: Record<string, string> }) => [
        r.status,
        r.body,
        r.headers['retry-after'],
        r.headers['content-type'],
        r.headers['www-authenticate'],
      ];
      expect(known.map(view)).toEqual(unknown.map(view));
      expect(statuses(known)).toEqual([401, 401, 401, 401, 401, 429, 429]);
    });
  });
});

const postgresOnly = process.env.MTLS_CA_TEST_POSTGRES_URL ? describe : describe.skip;

postgresOnly('rate limits shared by two replicas on one PostgreSQL', () => {
  it('admits the configured rates across both replicas together, not per replica', async () => {
    const db = await createTestDatabase('postgres');
    const dataDir = await tempDir();
    const clock = new FixedClock(new Date(T0.getTime() + 3_600_000 + 100));
    const env = { RATE_LIMIT_SIGN_PER_IP: '10', AUTH_FAILURE_LIMIT: '5', TRUST_PROXY: '1' };
    const a = await startTestService('postgres', { db, dataDir, clock, env });
    const b = await startTestService('postgres', { db, dataDir, clock, env });
    dateNowFollows(clock);
    try {
      const csr = await fixture('ec-p256.csr');
      const signed: number[] = [];
      for (let i = 0; i < 8; i++) {
        for (const t of [a, b]) {
          const res = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').send(csr);
          signed.push(res.status);
        }
      }
      expect(signed.filter((s) => s === 200)).toHaveLength(10);
      expect(signed.filter((s) => s === 429)).toHaveLength(6);

      // Failed authentications from one address add up across replicas too.
      const failed: number[] = [];
      for (let i = 0; i < 4; i++) {
        for (const t of [a, b]) {
          const res = await t.http
            .get('/private-certificates')
            .set({ 'X-API-AppKey': ADMIN.appKey, 'X-API-AppToken': WRONG, 'X-Forwarded-For': '203.0.113.50' });
          failed.push(res.status);
        }
      }
      expect(failed).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    } finally {
      await a.service.close();
      await b.service.close();
      await db.drop();
    }
  }, 2 * START_BOUND_MS);
});
