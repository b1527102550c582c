import { FixedClock } from '../../src/domain/clock';
import { backends, createTestDatabase } from '../helpers/backends';
import { fixture, tempDir } from '../helpers/openssl';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';

const T0 = new Date('2026-03-01T12:00:00.000Z');
const WRONG = 'not-the-right-token-but-long-enough-0000000';

describe.each(backends())('abuse limits on %s', (backend) => {
  let csr: Buffer;
  beforeAll(async () => {
    csr = await fixture('ec-p256.csr');
  });

  const sign = (t: TestService, headers: Record<string, string>, extra: Record<string, string> = {}) =>
    t.http.post('/private-certificates/sign').set(headers).set(extra).set('Content-Type', 'text/plain').send(csr);

  describe('signing per client IP (default 10 per second)', () => {
    let t: TestService;
    const clock = new FixedClock(T0);
    beforeAll(async () => {
      // The defaults of the configuration, not the test harness's "off".
      t = await startTestService(backend, { clock, env: { RATE_LIMIT_SIGN_PER_IP: '10', RATE_LIMIT_PER_KEY: '0' } });
    });
    afterAll(() => t.close());

    it('answers the 11th request in one second with 429, Retry-After and a problem', async () => {
      clock.set(new Date(T0.getTime() + 1000 * 10 + 250));
      for (let i = 0; i < 10; i++) expect((await sign(t, t.admin)).status).toBe(200);
      const refused = await sign(t, t.admin);
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toMatchObject({ type: 'urn:mtls-ca:problem:too-many-requests', status: 429 });
      const metrics = await t.http.get('/metrics');
      expect(metrics.text).toMatch(/^mtlsca_rate_limit_rejections_total\{scope="sign-ip"\} 1$/m);
      // Other endpoints are not limited by the signing rule.
      expect((await t.http.get('/private-certificates').set(t.admin)).status).toBe(200);
      // The next window admits again.
      clock.advance(1000);
      expect((await sign(t, t.admin)).status).toBe(200);
    });

    it('counts requests that fail authentication or validation too (limited before any work)', async () => {
      clock.set(new Date(T0.getTime() + 1000 * 20));
      for (let i = 0; i < 10; i++) expect((await sign(t, {})).status).toBe(401);
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
    });
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
    });
    afterAll(() => t.close());

    it('answers 429 past the per-key rate on any authenticated endpoint, and only for that key', async () => {
      clock.set(new Date(T0.getTime() + 40_000));
      const other = await t.createKey('acme', ['role:tenant']); // one request of the admin key
      for (let i = 0; i < 4; i++) expect((await t.http.get('/private-certificates').set(t.admin)).status).toBe(200);
      const refused = await t.http.get('/keys').set(t.admin);
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect((await t.http.get('/private-certificates').set(other.headers)).status).toBe(200);
      clock.advance(1000);
      expect((await t.http.get('/keys').set(t.admin)).status).toBe(200);
    });
  });

  describe('repeated wrong tokens', () => {
    let t: TestService;
    const clock = new FixedClock(T0);
    beforeAll(async () => {
      t = await startTestService(backend, { clock, env: { AUTH_FAILURE_LIMIT: '5', AUTH_FAILURE_WINDOW_MS: '60000', TRUST_PROXY: '1' } });
    });
    afterAll(() => t.close());

    const list = (appKey: string, appToken: string, ip: string) =>
      t.http.get('/private-certificates').set({ 'X-API-AppKey': appKey, 'X-API-AppToken': appToken, 'X-Forwarded-For': ip });

    it('throttles an appKey after the limit, even when the right token finally comes', async () => {
      clock.set(new Date(T0.getTime() + 60_000 * 10 + 1_000));
      for (let i = 0; i < 5; i++) expect((await list(ADMIN.appKey, WRONG, `198.51.100.${i}`)).status).toBe(401);
      const throttled = await list(ADMIN.appKey, ADMIN.appToken, '198.51.100.200');
      expect(throttled.status).toBe(429);
      expect(throttled.body.type).toBe('urn:mtls-ca:problem:too-many-requests');
      expect(Number(throttled.headers['retry-after'])).toBe(59);
      clock.advance(60_000);
      expect((await list(ADMIN.appKey, ADMIN.appToken, '198.51.100.200')).status).toBe(200);
    });

    it('treats an unknown appKey exactly like a known one (same statuses, bodies, Retry-After)', async () => {
      clock.set(new Date(T0.getTime() + 60_000 * 20 + 1_000));
      const known = [];
      const unknown = [];
      for (let i = 0; i < 6; i++) {
        known.push(await list(ADMIN.appKey, WRONG, `192.0.2.${i}`));
        unknown.push(await list('no-such-key-anywhere', WRONG, `192.0.2.${100 + i}`));
      }
      const view = (r: { status: number; body: unknown; headers: Record<string, string> }) => [r.status, r.body, r.headers['retry-after']];
      expect(known.map(view)).toEqual(unknown.map(view));
      expect(known.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429]);
    });

    it('throttles a client address that sprays many appKeys', async () => {
      clock.set(new Date(T0.getTime() + 60_000 * 30 + 1_000));
      for (let i = 0; i < 5; i++) expect((await list(`guess-${i}-key`, WRONG, '192.0.2.250')).status).toBe(401);
      expect((await list('guess-99-key', WRONG, '192.0.2.250')).status).toBe(429);
      expect((await list(ADMIN.appKey, ADMIN.appToken, '192.0.2.250')).status).toBe(429);
      expect((await list(ADMIN.appKey, ADMIN.appToken, '192.0.2.251')).status).toBe(200);
    });
  });
});

const postgresOnly = process.env.MTLS_CA_TEST_POSTGRES_URL ? describe : describe.skip;

postgresOnly('rate limits shared by two replicas on one PostgreSQL', () => {
  it('admits the configured rate across both replicas together, not per replica', async () => {
    const db = await createTestDatabase('postgres');
    const dataDir = await tempDir();
    const clock = new FixedClock(new Date(T0.getTime() + 3_600_000 + 100));
    const env = { RATE_LIMIT_SIGN_PER_IP: '10' };
    const a = await startTestService('postgres', { db, dataDir, clock, env });
    const b = await startTestService('postgres', { db, dataDir, clock, env });
    try {
      const csr = await fixture('ec-p256.csr');
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        for (const t of [a, b]) {
          const res = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').send(csr);
          statuses.push(res.status);
        }
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(6);
    } finally {
      await a.service.close();
      await b.service.close();
      await db.drop();
    }
  });
});
