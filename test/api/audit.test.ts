import { createHash } from 'node:crypto';
import { ChainVerifier } from '../../src/domain/audit-chain';
import type { AuditRecord } from '../../src/domain/audit-event';
import { FixedClock } from '../../src/domain/clock';
import { backends } from '../helpers/backends';
import { fixture } from '../helpers/openssl';
import { colonSerial } from '../helpers/sign';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';

type Item = Omit<AuditRecord, 'time'> & { time: string };

describe.each(backends())('the audit trail on %s', (backend) => {
  let t: TestService;
  let tenant: Awaited<ReturnType<TestService['createKey']>>;
  let reader: Awaited<ReturnType<TestService['createKey']>>;
  let serial: string;
  const clock = new FixedClock(new Date('2026-06-01T12:00:00Z'));
  const step = () => clock.advance(1000);

  const sign = (headers: Record<string, string>, csr: Buffer, requestId?: string) => {
    const req = t.http.post('/private-certificates/sign').set(headers).set('Content-Type', 'text/plain').set('Accept', 'application/json');
    return (requestId ? req.set('X-Request-Id', requestId) : req).send(csr);
  };

  /** GET /audit as the admin, after the failures recorded in the background are in. */
  const audit = async (query = '', headers = t.admin) => {
    await t.service.audit.drain();
    return t.http.get(`/audit${query}`).set(headers);
  };
  const items = async (query = ''): Promise<Item[]> => {
    const res = await audit(query);
    expect(res.status).toBe(200);
    return res.body.items;
  };

  /** Failed requests are recorded in the background; waiting for each keeps the records in request order. */
  const settled = async <T>(res: Promise<T>): Promise<T> => {
    const out = await res;
    await t.service.audit.drain();
    return out;
  };

  beforeAll(async () => {
    t = await startTestService(backend, { clock });
    step();
    tenant = await t.createKey('acme', ['role:tenant']);
    reader = await t.createKey('acme', ['certificates:read']);
    step();
    const signed = await sign(tenant.headers, await fixture('ec-p256.csr'), 'sign-request-1');
    expect(signed.status).toBe(200);
    serial = signed.body.serialNumber;
    step();
    expect((await settled(sign(tenant.headers, await fixture('other-account.csr')))).status).toBe(403);
    expect((await settled(sign(tenant.headers, Buffer.from('not a csr')))).status).toBe(400);
    step();
    expect((await t.http.delete(`/private-certificates/${serial}?reason=keyCompromise`).set(tenant.headers)).status).toBe(200);
    expect((await t.http.delete(`/private-certificates/${serial}`).set(tenant.headers)).status).toBe(200); // again: answered unchanged
    expect((await settled(t.http.delete('/private-certificates/not-hex').set(tenant.headers))).status).toBe(400);
    step();
    expect((await settled(sign({ 'X-API-AppKey': tenant.appKey, 'X-API-AppToken': 'wrong-token-but-long-enough-0000000' }, await fixture('ec-p256.csr')))).status).toBe(401);
    expect((await settled(t.http.get('/keys').set({ 'X-API-AppKey': 'no-such-key', 'X-API-AppToken': 'some-token' }))).status).toBe(401);
    expect((await settled(t.http.get('/keys'))).status).toBe(401); // no credentials at all: not an authentication attempt
    expect((await settled(t.http.get('/audit').set(reader.headers))).status).toBe(403);
    step();
    expect((await t.http.delete(`/keys/${reader.appKey}`).set(t.admin)).status).toBe(200);
  });
  afterAll(() => t.close());

  it('records the start: the CA loaded, the first admin key and the OCSP signer certificate', async () => {
    const first = (await items('?limit=1000')).reverse().slice(0, 3);
    expect(first.map((i) => [i.seq, i.action, i.outcome, i.actor])).toEqual([
      [1, 'ca.load', 'success', null],
      [2, 'key.create', 'success', null],
      [3, 'certificate.sign', 'success', null],
    ]);
    expect(first[0].details).toMatchObject({ keyId: t.service.ca.keyId, generated: 'true' });
    expect(first[1]).toMatchObject({ account: 'platform', details: { appKey: ADMIN.appKey, bootstrap: 'true' } });
    expect(first[2]).toMatchObject({ account: 'mtls-ca', details: { purpose: 'ocsp-signer' } });
  });

  it('records a signing with its actor, account, serial, request id, client address and time', async () => {
    const [signed] = await items('?action=certificate.sign&outcome=success&limit=1');
    expect(signed).toEqual({
      seq: expect.any(Number),
      time: '2026-06-01T12:00:02.000Z',
      action: 'certificate.sign',
      outcome: 'success',
      problem: null,
      actor: tenant.appKey,
      account: 'acme',
      serialNumber: serial,
      requestId: 'sign-request-1',
      clientIp: expect.stringMatching(/127\.0\.0\.1|::1/),
      details: { commonName: 'erp-connector' },
      prevHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('records revocations, repeated ones marked, and key creation and disabling by the admin', async () => {
    const revokes = await items(`?action=certificate.revoke&outcome=success`);
    expect(revokes.map((i) => [i.actor, i.serialNumber, i.details])).toEqual([
      [tenant.appKey, serial, { reason: 'keyCompromise', alreadyRevoked: 'true' }],
      [tenant.appKey, serial, { reason: 'keyCompromise' }],
    ]);
    const created = await items(`?action=key.create&actor=${ADMIN.appKey}`);
    expect(created.map((i) => i.details?.appKey)).toEqual([reader.appKey, tenant.appKey]);
    expect(created[1]).toMatchObject({ account: 'acme', details: { permissions: 'certificates:sign,certificates:read,certificates:revoke' } });
    const disabled = await items('?action=key.disable');
    expect(disabled).toHaveLength(1);
    expect(disabled[0]).toMatchObject({ actor: ADMIN.appKey, account: 'acme', outcome: 'success', details: { appKey: reader.appKey } });
  });

  it('records refused requests with the problem kind', async () => {
    const failures = await items('?outcome=failure');
    expect(failures.map((i) => [i.action, i.problem, i.actor, i.account])).toEqual([
      ['access.denied', 'forbidden', reader.appKey, 'acme'],
      ['auth.failure', 'unauthorized', null, null],
      ['auth.failure', 'unauthorized', tenant.appKey, 'acme'],
      ['certificate.revoke', 'invalid-serial-number', tenant.appKey, 'acme'],
      ['certificate.sign', expect.stringMatching(/csr/), tenant.appKey, 'acme'],
      ['certificate.sign', 'account-mismatch', tenant.appKey, 'acme'],
    ]);
    expect(failures[0].details).toEqual({ attempted: 'GET /audit' });
    // An unknown key is kept only as a fingerprint (it may be a token sent in the wrong header).
    expect(failures[1].details).toEqual({ attempted: 'GET /keys', claimedKeySha256: createHash('sha256').update('no-such-key').digest('hex').slice(0, 16) });
    expect(JSON.stringify(failures)).not.toContain('no-such-key');
    expect(failures[2].details).toEqual({ attempted: 'certificate.sign' });
    expect(failures[3]).toMatchObject({ serialNumber: null, details: { serialInput: 'not-hex' } });
    expect(JSON.stringify(await items('?limit=1000'))).not.toContain('wrong-token');
  });

  it('filters by account, actor, serial number in any form, and time', async () => {
    const actions = async (q: string) => (await items(q)).map((i) => i.action);
    expect(await actions(`?serialNumber=${colonSerial(serial)}`)).toEqual(['certificate.revoke', 'certificate.revoke', 'certificate.sign']);
    expect(await actions(`?actor=${tenant.appKey}&outcome=success`)).toEqual(['certificate.revoke', 'certificate.revoke', 'certificate.sign']);
    expect(await actions('?account=platform')).toEqual(['key.create']);
    expect(await actions('?since=2026-06-01T12:00:04Z&until=2026-06-01T12:00:05Z')).toEqual([
      'certificate.revoke',
      'certificate.revoke',
      'certificate.revoke',
    ]);
    expect(await actions('?since=2026-06-01T12:00:06Z')).toEqual(['key.disable']);
  });

  it.each([
    ['?limit=0'],
    ['?limit=1001'],
    ['?action=certificate.delete'],
    ['?outcome=maybe'],
    ['?action=key.create&action=key.disable'],
    ['?since=yesterday'],
    ['?serialNumber=zz'],
    ['?actor=a%20b'],
    ['?cursor=not-a-cursor'],
    ['?unknown=1'],
  ])('rejects %s with a 400 problem', async (q) => {
    const res = await audit(q);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('is for admins only', async () => {
    const signer = await t.createKey('acme', ['role:tenant']);
    expect((await audit('', signer.headers)).status).toBe(403);
    expect((await t.http.get('/audit')).status).toBe(401);
  });

  it('pages newest first with an opaque cursor, never skipping or repeating while records are added', async () => {
    const all = (await items('?limit=1000')).map((i) => i.seq);
    const seen: number[] = [];
    let cursor: string | null = null;
    let added = 0;
    do {
      const res = await audit(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((i: Item) => i.seq));
      cursor = res.body.nextCursor;
      if (added++ < 2) expect((await t.http.get('/keys').set({ 'X-API-AppKey': 'x', 'X-API-AppToken': 'y' })).status).toBe(401);
    } while (cursor);
    expect(seen).toEqual(all);
  });

  it('gives an outside party everything needed to verify the chain', async () => {
    const verifier = new ChainVerifier();
    const records = (await items('?limit=1000')).reverse();
    for (const i of records) expect(verifier.next({ ...i, time: new Date(i.time) })).toBeNull();
    expect(verifier.verifiedHead.seq).toBe(records.length);
    // The same walk notices a record changed on the way.
    const tampered = new ChainVerifier();
    const breaks = records.map((i) => tampered.next({ ...i, time: new Date(i.time), account: i.seq === 5 ? 'globex' : i.account }));
    expect(breaks.find(Boolean)).toMatchObject({ seq: 5, field: 'hash' });
  });
});

describe.each(backends())('when the audit trail cannot be written, on %s', (backend) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(backend);
  });
  afterAll(() => t.close());

  it('answers 503 and no certificate, and signs again once it can', async () => {
    await t.service.ledger.sql.exec(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
      CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();`);
    const csr = await fixture('ec-p256.csr');
    const refused = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').send(csr);
    expect(refused.status).toBe(503);
    expect(refused.body.type).toBe('urn:mtls-ca:problem:ledger-unavailable');
    expect(refused.text).not.toContain('BEGIN CERTIFICATE');
    const key = await t.http.post('/keys').set(t.admin).send({ account: 'acme', permissions: ['role:tenant'] });
    expect(key.status).toBe(503);
    expect(key.text).not.toContain('appToken');

    await t.service.ledger.sql.exec('DROP TRIGGER refuse_audit ON audit_log');
    const signed = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').send(csr);
    expect(signed.status).toBe(200);
  });

  it('answers a revocation it cannot audit with 503 and leaves the certificate unrevoked (they commit together)', async () => {
    const csr = await fixture('ec-p256.csr');
    const signed = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').set('Accept', 'application/json').send(csr);
    expect(signed.status).toBe(200);
    const serial = signed.body.serialNumber as string;
    await t.service.ledger.sql.exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();`);
    const refused = await t.http.delete(`/private-certificates/${serial}?reason=keyCompromise`).set(t.admin);
    expect(refused.status).toBe(503);
    await t.service.ledger.sql.exec('DROP TRIGGER refuse_audit ON audit_log');
    const [row] = await t.service.ledger.sql.query<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM certificates WHERE serial_number = $1', [serial]);
    expect(row.revoked).toBe(false);
    const revoked = await t.http.delete(`/private-certificates/${serial}?reason=keyCompromise`).set(t.admin);
    expect(revoked.status).toBe(200);
    const records = await t.http.get(`/audit?action=certificate.revoke&serialNumber=${serial}`).set(t.admin);
    expect(records.body.items.map((i: { outcome: string; details: unknown }) => [i.outcome, i.details])).toEqual([['success', { reason: 'keyCompromise' }]]);
  });
});

describe.each(backends())('concurrent revocations of one certificate, on %s', (backend) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(backend);
  });
  afterAll(() => t.close());

  it('revokes once, audits one change and the rest as already revoked', async () => {
    const csr = await fixture('ec-p256.csr');
    const signed = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').set('Accept', 'application/json').send(csr);
    const serial = signed.body.serialNumber as string;
    const answers = await Promise.all(Array.from({ length: 6 }, () => t.http.delete(`/private-certificates/${serial}?reason=superseded`).set(t.admin)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.revokedAt)).size).toBe(1);
    const records = await t.http.get(`/audit?action=certificate.revoke&serialNumber=${serial}`).set(t.admin);
    const details = records.body.items.map((i: { details: Record<string, string> }) => i.details);
    expect(details).toHaveLength(6);
    expect(details.filter((d: Record<string, string>) => !d.alreadyRevoked)).toEqual([{ reason: 'superseded' }]);
  });
});
