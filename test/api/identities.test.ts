import { X509Certificate, createPrivateKey } from 'node:crypto';
import { backends } from '../helpers/backends';
import { MASTER_KEY } from '../helpers/custody';
import { startTestService, type TestService } from '../helpers/test-service';

const PROBLEM = /^application\/problem\+json/;

describe.each(backends())('client identities on %s', (backend) => {
  let t: TestService;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  let other: Awaited<ReturnType<TestService['createKey']>>;

  beforeAll(async () => {
    t = await startTestService(backend, { env: { MTLS_CA_MASTER_KEY: MASTER_KEY } });
    acme = await t.createKey('acme', ['identities:manage']);
    other = await t.createKey('globex', ['identities:manage']);
  });
  afterAll(() => t.close());

  it('issues an identity here, keeps its key wrapped, and hands the TLS material to the keyring', async () => {
    const res = await t.http.post('/identities').set(acme.headers).send({ name: 'erp', account: 'acme', issue: { commonName: 'erp-client', keyType: 'ec-p256' } });
    expect(res.status).toBe(201);
    expect(res.body.state).toBe('active');
    expect(JSON.stringify(res.body)).not.toMatch(/PRIVATE KEY/);
    const cert = new X509Certificate(res.body.certificate);
    expect(cert.subject).toContain('CN=erp-client');
    expect(cert.subject).toContain('OU=acme');
    const material = await t.service.identities.tlsMaterial('acme', res.body.id);
    expect(cert.checkPrivateKey(createPrivateKey(material.keyPem))).toBe(true);
    await expect(t.service.identities.tlsMaterial('globex', res.body.id)).rejects.toMatchObject({ kind: 'not-found' });

    const seen = await t.http.get(`/identities/${res.body.id}`).set(other.headers);
    expect(seen.status).toBe(404);
    expect(seen.headers['content-type']).toMatch(PROBLEM);

    const secrets = await t.service.ledger.sql.query<{ ciphertext: Uint8Array }>('SELECT ciphertext FROM wrapped_secrets WHERE purpose = $1', [`identity-key:${res.body.id}`]);
    expect(secrets).toHaveLength(1);
    const del = await t.http.delete(`/identities/${res.body.id}`).set(acme.headers);
    expect(del.status).toBe(204);
    const after = await t.service.ledger.sql.query('SELECT 1 FROM wrapped_secrets WHERE purpose = $1', [`identity-key:${res.body.id}`]);
    expect(after).toHaveLength(0);
  });

  it('issues an exportable identity only to a key that may also sign (else identities:manage alone would mint client certificates of this CA with their keys)', async () => {
    const body = { name: 'minted', account: 'acme', exportable: true, issue: { commonName: 'minted-client', keyType: 'ec-p256' } };
    const refused = await t.http.post('/identities').set(acme.headers).send(body);
    expect(refused.status).toBe(403);
    expect(refused.headers['content-type']).toMatch(PROBLEM);
    expect(refused.body.detail).toContain('certificates:sign');
    const listed = await t.http.get('/identities').set(acme.headers);
    expect(listed.body.items.map((i: { name: string }) => i.name)).not.toContain('minted');

    const signer = await t.createKey('acme', ['identities:manage', 'certificates:sign']);
    const allowed = await t.http.post('/identities').set(signer.headers).send(body);
    expect(allowed.status).toBe(201);
    const exported = await t.http.post(`/identities/${allowed.body.id}/pkcs12`).set(signer.headers).send({ password: 'export-pw-123' });
    expect(exported.status).toBe(200);
    // Imported and partner-CA identities stay exportable with identities:manage alone: their certificate is not this CA's.
    const nonExportable = await t.http.post('/identities').set(acme.headers).send({ ...body, name: 'kept-inside', exportable: false });
    expect(nonExportable.status).toBe(201);
  });

  it('leaves no private key readable anywhere in the ledger (every text and bytea column of every table)', async () => {
    const res = await t.http.post('/identities').set(acme.headers).send({ name: 'scan', account: 'acme', issue: { commonName: 'scan', keyType: 'rsa-2048' } });
    expect(res.status).toBe(201);
    const key = createPrivateKey((await t.service.identities.tlsMaterial('acme', res.body.id)).keyPem);
    const der = key.export({ type: 'pkcs8', format: 'der' });
    const needles = [key.export({ type: 'pkcs8', format: 'pem' }) as string, der.toString('base64').slice(0, 64), key.export({ type: 'pkcs1', format: 'der' }).toString('base64').slice(0, 64)];
    const sql = t.service.ledger.sql;
    const columns = await sql.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'jsonb', 'character varying')`,
    );
    expect(columns.some((c) => c.table_name === 'wrapped_secrets')).toBe(true);
    for (const c of columns) {
      const rows = await sql.query<{ v: string | Uint8Array | null }>(`SELECT "${c.column_name}"::text AS v, "${c.column_name}" AS raw FROM "${c.table_name}"`);
      for (const r of rows as Array<{ v: string | null; raw: unknown }>) {
        const text = r.v ?? '';
        for (const n of needles) expect(text.includes(n)).toBe(false);
        if (r.raw instanceof Uint8Array) expect(Buffer.from(r.raw).includes(der.subarray(0, 64))).toBe(false);
      }
    }
  });

  it('refuses a bad body with 400 problem+json', async () => {
    const res = await t.http.post('/identities').set(acme.headers).send({ name: 'x', account: 'acme', issue: { commonName: 'a', keyType: 'dsa' } });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM);
  });
});

describe('client identities without a master key', () => {
  it('answers 409 naming MTLS_CA_MASTER_KEY', async () => {
    const t = await startTestService('pglite');
    try {
      const res = await t.http.post('/identities').set(t.admin).send({ name: 'erp', account: 'acme', issue: { commonName: 'erp', keyType: 'ec-p256' } });
      expect(res.status).toBe(409);
      expect(res.body.detail).toContain('MTLS_CA_MASTER_KEY');
    } finally {
      await t.close();
    }
  });
});
