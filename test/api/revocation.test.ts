import { backends } from '../helpers/backends';
import { colonSerial, issue } from '../helpers/sign';
import { makeCsr } from '../helpers/openssl';
import { startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('revocation and the ledger API on %s', (backend) => {
  let t: TestService;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  let globex: Awaited<ReturnType<TestService['createKey']>>;
  beforeAll(async () => {
    t = await startTestService(backend);
    acme = await t.createKey('acme', ['role:tenant']);
    globex = await t.createKey('globex', ['role:tenant']);
  });
  afterAll(() => t.close());

  it('revokes by the plain uppercase serial, with a reason, and reads it back', async () => {
    const c = await issue(t, acme.headers);
    const res = await t.http.delete(`/private-certificates/${c.serialNumber}?reason=keyCompromise`).set(acme.headers);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ serialNumber: c.serialNumber, revokedAt: expect.any(String), reason: 'keyCompromise' });
    const read = await t.http.get(`/private-certificates/${c.serialNumber}`).set(acme.headers);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ serialNumber: c.serialNumber, status: 'revoked', reason: 'keyCompromise', revokedAt: res.body.revokedAt, certificate: c.pem });
    const row = await t.service.ledger.certificates.findBySerial(c.serialNumber);
    expect(row!.revocation).toEqual({ revokedAt: new Date(res.body.revokedAt), reason: 'keyCompromise', revokedBy: acme.appKey });
  });

  it('revokes by the colon form openssl prints, lowercase, with leading zeros, on the /api/edge path', async () => {
    const c = await issue(t, acme.headers);
    const res = await t.http.delete(`/api/edge/private-certificates/00:${colonSerial(c.serialNumber)}`).set(acme.headers);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ serialNumber: c.serialNumber, reason: 'unspecified' });
  });

  it.each([
    ['a JSON body name', { reason: 'superseded' }, 'superseded'],
    ['a JSON body code', { reason: 5 }, 'cessationOfOperation'],
    ['a numeric query code', '?reason=9', 'privilegeWithdrawn'],
    ['a case-insensitive name', '?reason=AFFILIATIONCHANGED', 'affiliationChanged'],
  ])('takes the reason from %s', async (_how, given, expected) => {
    const c = await issue(t, acme.headers);
    const req = typeof given === 'string' ? t.http.delete(`/private-certificates/${c.serialNumber}${given}`) : t.http.delete(`/private-certificates/${c.serialNumber}`).send(given);
    const res = await req.set(acme.headers);
    expect(res.status).toBe(200);
    expect(res.body.reason).toBe(expected);
  });

  it.each(['certificateHold', 'removeFromCRL', '6', '8', 'bogus', '42'])('refuses reason %s with 400', async (reason) => {
    const c = await issue(t, acme.headers);
    const res = await t.http.delete(`/private-certificates/${c.serialNumber}?reason=${reason}`).set(acme.headers);
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('urn:mtls-ca:problem:invalid-revocation-reason');
    expect((await t.service.ledger.certificates.findBySerial(c.serialNumber))!.revocation).toBeNull();
  });

  it('answers a second revoke with the original revocation, unchanged', async () => {
    const c = await issue(t, acme.headers);
    const first = await t.http.delete(`/private-certificates/${c.serialNumber}?reason=keyCompromise`).set(acme.headers);
    const second = await t.http.delete(`/private-certificates/${c.serialNumber}?reason=superseded`).set(t.admin);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
  });

  it("answers 404 for another tenant's certificate, exactly as for an unknown serial", async () => {
    const c = await issue(t, acme.headers);
    const other = await t.http.delete(`/private-certificates/${c.serialNumber}`).set(globex.headers);
    const unknown = await t.http.delete('/private-certificates/0123456789ABCDEF').set(globex.headers);
    expect(other.status).toBe(404);
    expect(other.body).toEqual(unknown.body);
    expect((await t.http.get(`/private-certificates/${c.serialNumber}`).set(globex.headers)).status).toBe(404);
    expect((await t.service.ledger.certificates.findBySerial(c.serialNumber))!.revocation).toBeNull();
    expect((await t.http.delete(`/private-certificates/${c.serialNumber}`).set(t.admin)).status).toBe(200);
  });

  it('marks sign, read and revoke answers Cache-Control: no-store', async () => {
    const { csr } = await makeCsr(t.dataDir, 'no-store', '/CN=erp-connector/OU=acme');
    const signed = await t.http.post('/private-certificates/sign').set(acme.headers).set('Content-Type', 'text/plain').set('Accept', 'application/json').send(csr);
    expect(signed.status).toBe(200);
    expect(signed.headers['cache-control']).toBe('no-store');
    const serial = signed.body.serialNumber as string;
    for (const res of [
      await t.http.get(`/private-certificates/${serial}`).set(acme.headers),
      await t.http.get(`/api/edge/private-certificates/${serial}`).set(acme.headers).set('Accept', 'application/x-pem-file'),
      await t.http.delete(`/private-certificates/${serial}`).set(acme.headers),
      await t.http.delete('/private-certificates/0123456789ABCDEF').set(acme.headers),
    ]) {
      expect([200, 404]).toContain(res.status);
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  describe("the service's own OCSP signer certificates (account mtls-ca)", () => {
    const signerSerial = async () => {
      const res = await t.http.get('/private-certificates?account=mtls-ca').set(t.admin);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeGreaterThan(0);
      return res.body.items[0].serialNumber as string;
    };

    it('cannot be revoked by an admin (403 problem), and nothing is revoked', async () => {
      const serial = await signerSerial();
      const res = await t.http.delete(`/private-certificates/${serial}?reason=keyCompromise`).set(t.admin);
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'urn:mtls-ca:problem:forbidden', detail: expect.stringContaining('mtls-ca') });
      expect((await t.service.ledger.certificates.findBySerial(serial))!.revocation).toBeNull();
    });

    it('cannot be read or revoked by a tenant key, not even one of the account mtls-ca an earlier version created', async () => {
      const serial = await signerSerial();
      const legacy = await t.insertKey('mtls-ca', ['role:tenant']);
      for (const headers of [legacy.headers, acme.headers]) {
        expect((await t.http.get(`/private-certificates/${serial}`).set(headers)).status).toBe(404);
        const res = await t.http.delete(`/private-certificates/${serial}`).set(headers);
        expect(res.status).toBe(404);
        expect(res.body.type).toBe('urn:mtls-ca:problem:not-found');
      }
      expect((await t.service.ledger.certificates.findBySerial(serial))!.revocation).toBeNull();
      expect((await t.http.get(`/private-certificates/${serial}`).set(t.admin)).status).toBe(200);
    });

    it('refuses a CSR with OU=mtls-ca (400) from a tenant key of that account and from an admin, and writes no ledger row', async () => {
      const legacy = await t.insertKey('mtls-ca', ['role:tenant']);
      const { csr } = await makeCsr(t.dataDir, 'reserved-ou', '/CN=ocsp/OU=mtls-ca');
      const before = await t.service.ledger.certificates.list({ now: new Date(), account: 'mtls-ca' }, { limit: 100 });
      for (const headers of [legacy.headers, t.admin]) {
        const res = await t.http.post('/private-certificates/sign').set(headers).set('Content-Type', 'text/plain').send(csr);
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ type: 'urn:mtls-ca:problem:subject-not-allowed', detail: expect.stringContaining('reserved') });
      }
      expect(await t.service.ledger.certificates.list({ now: new Date(), account: 'mtls-ca' }, { limit: 100 })).toHaveLength(before.length);
    });
  });

  it('needs certificates:revoke to revoke and certificates:read to read', async () => {
    const c = await issue(t, acme.headers);
    const signer = await t.createKey('acme', ['certificates:sign']);
    expect((await t.http.delete(`/private-certificates/${c.serialNumber}`).set(signer.headers)).status).toBe(403);
    expect((await t.http.get(`/private-certificates/${c.serialNumber}`).set(signer.headers)).status).toBe(403);
    expect((await t.http.get('/private-certificates').set(signer.headers)).status).toBe(403);
    expect((await t.http.delete(`/private-certificates/${c.serialNumber}`)).status).toBe(401);
  });

  it.each(['xyz', '12:', '..%2F..%2Fetc%2Fpasswd', 'A'.repeat(60)])('rejects the serial %s with 400', async (serial) => {
    const res = await t.http.delete(`/private-certificates/${serial}`).set(acme.headers);
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('urn:mtls-ca:problem:invalid-serial-number');
  });

  it('serves the PEM alone with Accept: application/x-pem-file', async () => {
    const c = await issue(t, acme.headers);
    const res = await t.http.get(`/private-certificates/${colonSerial(c.serialNumber)}`).set(acme.headers).set('Accept', 'application/x-pem-file');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-pem-file/);
    expect(res.text).toBe(c.pem);
  });
});
