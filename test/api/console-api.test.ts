import { backends } from '../helpers/backends';
import { issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('the API the console reads (%s)', (backend) => {
  let t: TestService;
  let acme: Record<string, string>;
  let globex: Record<string, string>;

  beforeAll(async () => {
    t = await startTestService(backend);
    acme = (await t.createKey('acme', ['role:tenant'])).headers;
    globex = (await t.createKey('globex', ['role:tenant'])).headers;
    await issue(t, acme, '/CN=one/OU=acme');
    const revoked = await issue(t, acme, '/CN=two/OU=acme');
    await issue(t, globex, '/CN=three/OU=globex');
    expect((await t.http.delete(`/private-certificates/${revoked.serialNumber}?reason=keyCompromise`).set(acme)).status).toBe(200);
  });
  afterAll(() => t.close());

  it('GET /keys/me tells any valid key what it is, and nothing without one', async () => {
    const me = await t.http.get('/keys/me').set(acme);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ appKey: acme['X-API-AppKey'], account: 'acme', permissions: ['certificates:sign', 'certificates:read', 'certificates:revoke'] });
    expect(JSON.stringify(me.body)).not.toContain(acme['X-API-AppToken']);
    expect(me.headers['cache-control']).toBe('no-store');
    const anonymous = await t.http.get('/keys/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['content-type']).toContain('application/problem+json');
    expect((await t.http.get('/keys/me').set({ ...acme, 'X-API-AppToken': 'wrong' })).status).toBe(401);
  });

  it('GET /stats counts within the tenant’s account only', async () => {
    const res = await t.http.get('/stats').set(acme);
    expect(res.status).toBe(200);
    expect(res.body.account).toBe('acme');
    const today = new Date().toISOString().slice(0, 10);
    expect(res.body.issuedPerDay).toHaveLength(30);
    expect(res.body.issuedPerDay.at(-1)).toEqual({ day: today, count: 2 });
    expect(res.body.revokedByReason).toEqual([{ reason: 'keyCompromise', count: 1 }]);
    // Certificates last CERT_VALIDITY_DAYS (365 by default): none expires within 90 days.
    expect(res.body.expiring).toEqual({ within30Days: 0, within60Days: 0, within90Days: 0 });
    // The CRL and OCSP traffic cover every account: admins only.
    expect(res.body.crl).toBeNull();
    expect(res.body.ocspAnswers).toBeNull();
    expect(res.headers['cache-control']).toBe('no-store');

    const other = await t.http.get('/stats?account=globex').set(acme);
    expect(other.status).toBe(403);
    expect(other.headers['content-type']).toContain('application/problem+json');
  });

  it('GET /stats for an admin: every account, or one', async () => {
    const all = await t.http.get('/stats?days=7').set(t.admin);
    expect(all.body.account).toBeNull();
    expect(all.body.crl.crlNumber).toMatch(/^\d+$/);
    expect(all.body.issuedPerDay).toHaveLength(7);
    const issuedToday = all.body.issuedPerDay.at(-1).count;
    expect(issuedToday).toBeGreaterThanOrEqual(3); // the tenants' three, plus the service's own OCSP signer
    const globexOnly = await t.http.get('/stats?account=globex').set(t.admin);
    expect(globexOnly.body.issuedPerDay.at(-1).count).toBe(1);
    expect(globexOnly.body.revokedByReason).toEqual([]);
  });

  it.each(['days=0', 'days=367', 'days=abc', 'account=../x', 'other=1', 'days=1&days=2'])('GET /stats?%s is a 400 problem', async (query) => {
    const res = await t.http.get(`/stats?${query}`).set(t.admin);
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('urn:mtls-ca:problem:invalid-request');
  });

  it('GET /audit/verification: admins only; an intact chain', async () => {
    expect((await t.http.get('/audit/verification').set(acme)).status).toBe(403);
    const res = await t.http.get('/audit/verification').set(t.admin);
    expect(res.status).toBe(200);
    expect(res.body.intact).toBe(true);
    expect(res.body.count).toBeGreaterThan(5);
    expect(res.body.head.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
