import { backends } from '../helpers/backends';
import { issue } from '../helpers/sign';
import { fixture } from '../helpers/openssl';
import { FixedClock } from '../../src/domain/clock';
import { startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('searching the ledger on %s', (backend) => {
  let t: TestService;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  let globex: Awaited<ReturnType<TestService['createKey']>>;
  const clock = new FixedClock(new Date('2026-06-01T12:00:00Z'));
  const serials: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestService(backend, { clock, env: { CERT_VALIDITY_DAYS: '30' } });
    acme = await t.createKey('acme', ['role:tenant']);
    globex = await t.createKey('globex', ['role:tenant']);
    for (const cn of ['billing', 'erp', 'shop']) {
      clock.advance(1000);
      serials[cn] = (await issue(t, acme.headers, `/CN=${cn}/OU=acme`)).serialNumber;
    }
    clock.advance(1000);
    serials.globex = (await issue(t, globex.headers, '/CN=erp/OU=globex')).serialNumber;
    await t.http.delete(`/private-certificates/${serials.erp}`).set(acme.headers);
    // The service's own delegated OCSP signer, issued at start, is in the ledger too (oldest entry).
    serials.ocspSigner = (await t.http.get('/private-certificates?account=mtls-ca').set(t.admin)).body.items[0].serialNumber;
  });
  afterAll(() => t.close());

  const list = (headers: Record<string, string>, query = '') => t.http.get(`/private-certificates${query}`).set(headers);

  it("shows a tenant only its own account's certificates, newest first", async () => {
    const res = await list(acme.headers);
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: { commonName: string }) => i.commonName)).toEqual(['shop', 'erp', 'billing']);
    expect(res.body.nextCursor).toBeNull();
    expect(res.body.items[0]).toEqual({
      serialNumber: serials.shop,
      account: 'acme',
      commonName: 'shop',
      subject: 'CN=shop, OU=acme',
      status: 'valid',
      notBefore: expect.any(String),
      notAfter: expect.any(String),
      issuedAt: expect.any(String),
      revokedAt: null,
      reason: null,
      renewedFrom: null,
    });
  });

  it('refuses a tenant asking for another account, and lets admins filter by account', async () => {
    expect((await list(acme.headers, '?account=globex')).status).toBe(403);
    const admin = await list(t.admin, '?account=globex');
    expect(admin.body.items.map((i: { serialNumber: string }) => i.serialNumber)).toEqual([serials.globex]);
    expect((await list(t.admin)).body.items).toHaveLength(5);
  });

  it("shows the service's OCSP signers only to admins, not to a tenant key of the reserved account mtls-ca", async () => {
    const admin = await list(t.admin, '?account=mtls-ca');
    expect(admin.status).toBe(200);
    expect(admin.body.items.map((i: { serialNumber: string }) => i.serialNumber)).toContain(serials.ocspSigner);
    expect(admin.headers['cache-control']).toBe('no-store');
    const legacy = await t.insertKey('mtls-ca', ['role:tenant']);
    for (const query of ['', '?account=mtls-ca', `?commonName=${encodeURIComponent('mtls-ca Root CA OCSP Responder')}`]) {
      const res = await list(legacy.headers, query);
      expect(res.status).toBe(403);
      expect(res.body.type).toBe('urn:mtls-ca:problem:forbidden');
      expect(JSON.stringify(res.body)).not.toContain(serials.ocspSigner);
    }
    expect((await list(acme.headers, '?account=mtls-ca')).status).toBe(403);
    expect(JSON.stringify((await list(acme.headers)).body)).not.toContain(serials.ocspSigner);
  });

  it('filters by status, common name and dates', async () => {
    const names = async (q: string) => (await list(acme.headers, q)).body.items.map((i: { commonName: string }) => i.commonName);
    expect(await names('?status=revoked')).toEqual(['erp']);
    expect(await names('?status=valid')).toEqual(['shop', 'billing']);
    expect(await names('?status=expired')).toEqual([]);
    expect(await names('?commonName=billing')).toEqual(['billing']);
    expect(await names('?issuedAfter=2026-06-01T12:00:01.500Z')).toEqual(['shop', 'erp']);
    expect(await names('?issuedBefore=2026-06-01T12:00:01.500Z')).toEqual(['billing']);
    expect(await names('?expiresBefore=2026-07-01T12:00:01.500Z')).toEqual(['billing']);
    expect(await names('?expiresAfter=2026-07-01T12:00:01.500Z')).toEqual(['shop', 'erp']);
    clock.advance(40 * 86_400_000);
    try {
      expect(await names('?status=expired')).toEqual(['shop', 'billing']);
      expect(await names('?status=valid')).toEqual([]);
    } finally {
      clock.advance(-40 * 86_400_000);
    }
  });

  it.each([
    ['?limit=0'],
    ['?limit=1001'],
    ['?limit=abc'],
    ['?status=bogus'],
    ['?status=valid&status=revoked'],
    ['?issuedAfter=yesterday'],
    ['?issuedAfter=0000-01-01'],
    ['?cursor=not-a-cursor'],
    ['?unknown=1'],
  ])('rejects %s with 400', async (q) => {
    const res = await list(acme.headers, q);
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('urn:mtls-ca:problem:invalid-request');
  });

  it('pages with an opaque cursor and never skips or repeats while certificates are being issued', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let extra = 0;
    do {
      const res = await list(t.admin, `?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((i: { serialNumber: string }) => i.serialNumber));
      cursor = res.body.nextCursor;
      if (extra < 3) {
        // New certificates arrive between pages.
        clock.advance(1000);
        const r = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').send(await fixture('ec-p256.csr'));
        expect(r.status).toBe(200);
        extra++;
      }
    } while (cursor);
    expect(seen).toEqual([serials.globex, serials.shop, serials.erp, serials.billing, serials.ocspSigner]);
    expect(new Set(seen).size).toBe(seen.length);
  });
});
