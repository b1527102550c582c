import { backends } from '../helpers/backends';
import { colonSerial, issue } from '../helpers/sign';
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
