import { backends } from '../helpers/backends';
import { fixture } from '../helpers/openssl';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('the auth matrix on %s', (backend) => {
  let t: TestService;
  let csr: Buffer;
  beforeAll(async () => {
    t = await startTestService(backend);
    csr = await fixture('ec-p256.csr');
  });
  afterAll(() => t.close());

  const sign = (headers: Record<string, string>, body = csr) =>
    t.http.post('/private-certificates/sign').set(headers).set('Content-Type', 'text/plain').send(body);

  it('answers 401 without credentials', async () => {
    const res = await sign({});
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.type).toBe('urn:mtls-ca:problem:unauthorized');
  });

  it('answers 401 with only one of the two headers', async () => {
    expect((await sign({ 'X-API-AppKey': 'test-admin-key' })).status).toBe(401);
  });

  it('answers a wrong token exactly like an unknown key', async () => {
    const wrongToken = await sign({ 'X-API-AppKey': 'test-admin-key', 'X-API-AppToken': 'not-the-token-but-long-enough-000000' });
    const unknownKey = await sign({ 'X-API-AppKey': 'nobody', 'X-API-AppToken': 'not-the-token-but-long-enough-000000' });
    expect(wrongToken.status).toBe(401);
    expect(unknownKey.status).toBe(401);
    expect(wrongToken.body).toEqual(unknownKey.body);
  });

  it('answers 403 to a key without the needed permission', async () => {
    const reader = await t.createKey('acme', ['certificates:read']);
    const res = await sign(reader.headers);
    expect(res.status).toBe(403);
    expect(res.body.type).toBe('urn:mtls-ca:problem:forbidden');
    expect(res.body.detail).toContain('certificates:sign');
  });

  it('answers 403 to a tenant key signing a CSR whose OU is another account', async () => {
    const tenant = await t.createKey('acme', ['certificates:sign']);
    const res = await sign(tenant.headers, await fixture('other-account.csr'));
    expect(res.status).toBe(403);
    expect(res.body.type).toBe('urn:mtls-ca:problem:account-mismatch');
    expect(res.body.detail).toContain('globex');
  });

  it('lets a tenant key sign for its own account', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    expect((await sign(tenant.headers)).status).toBe(200);
  });

  it('answers 401 to a disabled key', async () => {
    const tenant = await t.createKey('acme', ['certificates:sign']);
    expect((await sign(tenant.headers)).status).toBe(200);
    const del = await t.http.delete(`/keys/${tenant.appKey}`).set(t.admin);
    expect(del.status).toBe(200);
    expect(del.body.disabledAt).toEqual(expect.any(String));
    const res = await sign(tenant.headers);
    expect(res.status).toBe(401);
    expect(res.body.type).toBe('urn:mtls-ca:problem:unauthorized');
  });

  it('lets an admin key sign for any account', async () => {
    expect((await sign(t.admin, await fixture('other-account.csr'))).status).toBe(200);
    expect((await sign(t.admin)).status).toBe(200);
  });

  it('accepts the X-VTEX-API-* header spellings', async () => {
    const res = await sign({ 'X-VTEX-API-AppKey': ADMIN.appKey, 'X-VTEX-API-AppToken': ADMIN.appToken });
    expect(res.status).toBe(200);
  });
});
