import { backends } from '../helpers/backends';
import { startTestService, type TestService, ADMIN } from '../helpers/test-service';

describe.each(backends())('API keys on %s', (backend) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(backend);
  });
  afterAll(() => t.close());

  it('creates a key with a token of at least 128 bits, shown only at creation', async () => {
    const res = await t.http.post('/keys').set(t.admin).send({ account: 'acme', permissions: ['certificates:sign', 'certificates:read'] });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      appKey: expect.any(String),
      appToken: expect.any(String),
      account: 'acme',
      permissions: ['certificates:sign', 'certificates:read'],
      createdAt: expect.any(String),
      createdBy: ADMIN.appKey,
      disabledAt: null,
    });
    expect(Buffer.from(res.body.appToken, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(res.headers.location).toBe(`/keys/${res.body.appKey}`);

    const list = await t.http.get('/keys').set(t.admin);
    expect(list.status).toBe(200);
    const listed = list.body.items.find((k: { appKey: string }) => k.appKey === res.body.appKey);
    expect(listed).toMatchObject({ account: 'acme', permissions: ['certificates:sign', 'certificates:read'] });
    expect(JSON.stringify(list.body)).not.toContain(res.body.appToken);
    expect(JSON.stringify(list.body)).not.toContain('hmac');
  });

  it('stores only a keyed hash of the token', async () => {
    const created = await t.createKey('acme', ['certificates:read']);
    const row = await t.service.ledger.apiKeys.find(created.appKey);
    expect(row!.tokenHash).toMatch(/^hmac-sha256\$/);
    expect(row!.tokenHash).not.toContain(created.appToken);
  });

  it('expands named roles', async () => {
    const created = await t.createKey('acme', ['role:tenant']);
    expect(created.permissions).toEqual(['certificates:sign', 'certificates:read', 'certificates:revoke']);
  });

  it.each([
    ['no account', { permissions: ['certificates:sign'] }],
    ['a bad account name', { account: 'a b', permissions: ['certificates:sign'] }],
    ['no permissions', { account: 'acme', permissions: [] }],
    ['an unknown permission', { account: 'acme', permissions: ['certificates:everything'] }],
    ['an unknown field', { account: 'acme', permissions: ['certificates:sign'], appToken: 'chosen' }],
    ['not an object', ['acme']],
  ])('rejects a key with %s (400)', async (_name, body) => {
    const res = await t.http.post('/keys').set(t.admin).send(body as object);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.type).toBe('urn:mtls-ca:problem:invalid-request');
  });

  it('rejects malformed JSON with 400 and a non-JSON body with 415', async () => {
    const bad = await t.http.post('/keys').set(t.admin).set('Content-Type', 'application/json').send('{"account":');
    expect(bad.status).toBe(400);
    const text = await t.http.post('/keys').set(t.admin).set('Content-Type', 'text/plain').send('account=acme');
    expect(text.status).toBe(415);
  });

  it('refuses key management to non-admin keys (403) and to anonymous callers (401)', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    expect((await t.http.get('/keys').set(tenant.headers)).status).toBe(403);
    expect((await t.http.post('/keys').set(tenant.headers).send({ account: 'acme', permissions: ['admin'] })).status).toBe(403);
    expect((await t.http.delete(`/keys/${tenant.appKey}`).set(tenant.headers)).status).toBe(403);
    expect((await t.http.get('/keys')).status).toBe(401);
  });

  it('refuses a key for the reserved account mtls-ca (400), for admins too, and stores none', async () => {
    const before = (await t.http.get('/keys').set(t.admin)).body.items.length;
    const res = await t.http.post('/keys').set(t.admin).send({ account: 'mtls-ca', permissions: ['role:tenant'] });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'urn:mtls-ca:problem:invalid-request', detail: expect.stringContaining('reserved') });
    const after = (await t.http.get('/keys').set(t.admin)).body.items;
    expect(after).toHaveLength(before);
    expect(after.map((k: { account: string }) => k.account)).not.toContain('mtls-ca');
  });

  it('marks every answer that carries key material or key data Cache-Control: no-store', async () => {
    const created = await t.http.post('/keys').set(t.admin).send({ account: 'acme', permissions: ['role:tenant'] });
    expect(created.status).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const listed = await t.http.get('/keys').set(t.admin);
    expect(listed.status).toBe(200);
    expect(listed.headers['cache-control']).toBe('no-store');
    const disabled = await t.http.delete(`/keys/${created.body.appKey}`).set(t.admin);
    expect(disabled.status).toBe(200);
    expect(disabled.headers['cache-control']).toBe('no-store');
    // Refusals of the same routes too: nothing of the authenticated API is cacheable.
    const refused = await t.http.get('/keys');
    expect(refused.status).toBe(401);
    expect(refused.headers['cache-control']).toBe('no-store');
    const audit = await t.http.get('/audit').set(t.admin);
    expect(audit.status).toBe(200);
    expect(audit.headers['cache-control']).toBe('no-store');
  });

  it('disables a key idempotently and answers 404 for an unknown key', async () => {
    const created = await t.createKey('acme', ['certificates:read']);
    const first = await t.http.delete(`/keys/${created.appKey}`).set(t.admin);
    const second = await t.http.delete(`/keys/${created.appKey}`).set(t.admin);
    expect(first.status).toBe(200);
    expect(second.body.disabledAt).toBe(first.body.disabledAt);
    expect((await t.http.delete('/keys/no-such-key').set(t.admin)).status).toBe(404);
  });
});

describe.each(backends())('API key safety on %s', (backend) => {
  it('refuses to let a key disable itself (409), so the last admin cannot lock everyone out by accident', async () => {
    const t = await startTestService(backend);
    try {
      const res = await t.http.delete(`/keys/${ADMIN.appKey}`).set(t.admin);
      expect(res.status).toBe(409);
      expect(res.body.type).toBe('urn:mtls-ca:problem:conflict');
      expect((await t.http.get('/keys').set(t.admin)).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});
