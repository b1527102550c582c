import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { backends } from '../helpers/backends';
import { MASTER_KEY } from '../helpers/custody';
import { openssl, opensslStatus, tempDir } from '../helpers/openssl';
import { expectKeyNowhereInLedger } from '../helpers/ledger-scan';
import { makeCa, makeClient, type OpensslCa } from '../helpers/partner-ca';
import { startTestService, type TestService } from '../helpers/test-service';

const PROBLEM = /^application\/problem\+json/;
const run = promisify(execFile);
const P12_PASSWORD = 'import-secret-pw';

describe.each(backends())('imported client identities (PEM, PKCS#12) and PKCS#12 export on %s', (backend) => {
  let t: TestService;
  let dir: string;
  let root: OpensslCa;
  let issuing: OpensslCa;
  let client: Awaited<ReturnType<typeof makeClient>>;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  let globex: Awaited<ReturnType<TestService['createKey']>>;
  const p12 = async (name: string, extra: string[] = []) => {
    const out = path.join(dir, `${name}.p12`);
    await openssl(['pkcs12', '-export', ...extra, '-inkey', client.key, '-in', client.crt, '-certfile', issuing.crt, '-passout', `pass:${P12_PASSWORD}`, '-out', out]);
    return fs.readFile(out);
  };

  beforeAll(async () => {
    dir = await tempDir('identities-import-');
    t = await startTestService(backend, { env: { MTLS_CA_MASTER_KEY: MASTER_KEY, MAX_BODY_BYTES: String(1024 * 1024) } });
    acme = await t.createKey('acme', ['identities:manage']);
    globex = await t.createKey('globex', ['identities:manage']);
    root = await makeCa(dir, 'import-root');
    issuing = await makeCa(dir, 'import-issuing', root);
    client = await makeClient(dir, issuing, 'imported-client', '/CN=acme-imported/O=Acme');
  }, 60_000);
  afterAll(async () => {
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const create = (body: object, headers = acme.headers) => t.http.post('/identities').set(headers).send(body);

  it('imports a PEM certificate, PKCS#8 key and chain, and presents that key', async () => {
    const res = await create({ name: 'pem-pkcs8', account: 'acme', import: { certificate: client.pem, key: client.keyPem, chain: issuing.pem } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ origin: 'imported', state: 'active', keyType: 'EC-P-256', exportable: false, csr: null });
    expect(res.body.chain).toHaveLength(1);
    expect(JSON.stringify(res.body)).not.toMatch(/PRIVATE KEY/);
    const material = await t.service.identities.tlsMaterial('acme', res.body.id);
    expect(createPrivateKey(material.keyPem).export({ type: 'pkcs8', format: 'pem' })).toBe(createPrivateKey(client.keyPem).export({ type: 'pkcs8', format: 'pem' }));
    // The audit record names the imported certificate.
    const audit = await t.http.get('/audit?action=identity.create').set(t.admin);
    const record = audit.body.items.find((r: { details: { identityId?: string } }) => r.details.identityId === res.body.id);
    expect(record.details).toMatchObject({ origin: 'imported', fingerprintSha256: res.body.fingerprint });
  });

  it('imports PKCS#1 (RSA) and SEC1 (EC) keys', async () => {
    const rsa = await makeClient(dir, issuing, 'rsa-client', '/CN=rsa-client', ['-newkey', 'rsa:2048']);
    const pkcs1 = (await openssl(['rsa', '-in', rsa.key, '-traditional'])).stdout;
    expect(pkcs1).toContain('BEGIN RSA PRIVATE KEY');
    const a = await create({ name: 'pem-pkcs1', account: 'acme', import: { certificate: rsa.pem + issuing.pem, key: pkcs1 } });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ keyType: 'RSA-2048' });
    expect(a.body.chain).toHaveLength(1);
    const sec1 = (await openssl(['ec', '-in', client.key])).stdout;
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    const b = await create({ name: 'pem-sec1', account: 'acme', import: { certificate: client.pem, key: sec1, chain: [issuing.pem, root.pem] } });
    expect(b.status).toBe(201);
    expect(b.body.chain).toHaveLength(2);
  });

  it('refuses a key that is not the certificate\'s, an encrypted key, and a broken chain (400, nothing stored)', async () => {
    const other = await makeClient(dir, issuing, 'other-client', '/CN=other');
    const encrypted = (await openssl(['pkcs8', '-topk8', '-in', client.key, '-v2', 'aes-256-cbc', '-passout', 'pass:whatever'])).stdout;
    for (const [body, detail] of [
      [{ certificate: client.pem, key: other.keyPem }, /public key is not this identity's key/],
      [{ certificate: client.pem, key: encrypted }, /encrypted/],
      [{ certificate: client.pem, key: client.keyPem, chain: root.pem }, /did not sign/],
      [{ certificate: client.keyPem, key: client.keyPem }, /PEM CERTIFICATE/],
    ] as const) {
      const res = await create({ name: 'refused', account: 'acme', import: body });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(res.body.detail).toMatch(detail);
      expect(JSON.stringify(res.body)).not.toMatch(/BEGIN|MII/);
    }
    const list = await t.http.get('/identities').set(acme.headers);
    expect(list.body.items.map((i: { name: string }) => i.name)).not.toContain('refused');
  });

  it('imports PKCS#12 files made by openssl pkcs12 -export (OpenSSL 3 default and -legacy), as JSON and as a form', async () => {
    const modern = await create({ name: 'p12-modern', account: 'acme', exportable: true, pkcs12: { data: (await p12('modern')).toString('base64'), password: P12_PASSWORD } });
    expect(modern.status).toBe(201);
    expect(modern.body).toMatchObject({ origin: 'imported', exportable: true, state: 'active' });
    expect(modern.body.chain).toHaveLength(1);
    expect(new X509Certificate(modern.body.certificate).fingerprint256).toBe(new X509Certificate(client.pem).fingerprint256);

    const legacy = await create({ name: 'p12-legacy', account: 'acme', pkcs12: { data: (await p12('legacy', ['-legacy'])).toString('base64'), password: P12_PASSWORD } });
    expect(legacy.status).toBe(201);
    expect(legacy.body.chain).toHaveLength(1);

    const form = await t.http
      .post('/identities')
      .set(acme.headers)
      .field('name', 'p12-form')
      .field('account', 'acme')
      .field('exportable', 'true')
      .field('password', P12_PASSWORD)
      .attach('file', await p12('form'), 'id.p12');
    expect(form.status).toBe(201);
    expect(form.body).toMatchObject({ name: 'p12-form', origin: 'imported', exportable: true });
    const material = await t.service.identities.tlsMaterial('acme', form.body.id);
    expect(new X509Certificate(material.certificatePem).checkPrivateKey(createPrivateKey(client.keyPem))).toBe(true);
  });

  it('answers a wrong PKCS#12 password, a file that is not PKCS#12, and a file over the limit with 4xx problem+json', async () => {
    const wrong = await create({ name: 'p12-wrong', account: 'acme', pkcs12: { data: (await p12('wrong')).toString('base64'), password: 'not-the-password' } });
    expect(wrong.status).toBe(422);
    expect(wrong.headers['content-type']).toMatch(PROBLEM);
    expect(wrong.body.reason).toBe('wrong-password');
    const wrongForm = await t.http.post('/identities').set(acme.headers).field('name', 'p12-wrong').field('account', 'acme').field('password', 'nope').attach('file', await p12('wrong-form'), 'id.p12');
    expect(wrongForm.status).toBe(422);
    expect(wrongForm.body.reason).toBe('wrong-password');
    const garbage = await create({ name: 'p12-garbage', account: 'acme', pkcs12: { data: Buffer.from('not a pkcs12 file').toString('base64'), password: 'x' } });
    expect(garbage.status).toBe(422);
    // Over the limits: MAX_BODY_BYTES (1 MiB here) by Content-Length at once, the file limit (256 KiB) while reading the part.
    for (const size of [2 * 1024 * 1024, 300 * 1024]) {
      const big = await t.http.post('/identities').set(acme.headers).field('name', 'big').field('account', 'acme').field('password', 'x').attach('file', Buffer.alloc(size, 1), 'big.p12');
      expect(big.status).toBe(413);
      expect(big.headers['content-type']).toMatch(PROBLEM);
      expect(big.body.detail).toMatch(size > 1024 * 1024 ? /larger than 1048576 bytes/ : /the file is larger than 262144 bytes/);
    }
    const noFile = await t.http.post('/identities').set(acme.headers).field('name', 'nofile').field('account', 'acme').field('password', 'x');
    expect(noFile.status).toBe(400);
    const unknownField = await t.http.post('/identities').set(acme.headers).field('name', 'x').field('account', 'acme').field('password', 'x').field('extra', '1').attach('file', await p12('extra'), 'id.p12');
    expect(unknownField.status).toBe(400);
    const noBoundary = await t.http.post('/identities').set(acme.headers).set('Content-Type', 'multipart/form-data').send('x');
    expect(noBoundary.status).toBe(415);
    expect(noBoundary.headers['content-type']).toMatch(PROBLEM);
    const forGlobex = await create({ name: 'p12-theirs', account: 'globex', pkcs12: { data: (await p12('theirs')).toString('base64'), password: P12_PASSWORD } });
    expect(forGlobex.status).toBe(403);
  });

  it('exports an exportable identity as PKCS#12 that openssl and keytool read, audited; refuses a non-exportable one', async () => {
    const created = await create({ name: 'to-export', account: 'acme', exportable: true, import: { certificate: client.pem, key: client.keyPem, chain: issuing.pem } });
    expect(created.status).toBe(201);
    for (const profile of ['modern', 'legacy'] as const) {
      const res = await t.http.post(`/identities/${created.body.id}/pkcs12`).set(acme.headers).send({ password: 'export-pw-123', profile }).buffer(true).parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/x-pkcs12/);
      expect(res.headers['content-disposition']).toMatch(/attachment; filename="to-export.p12"/);
      const file = path.join(dir, `export-${profile}.p12`);
      await fs.writeFile(file, res.body as Buffer);
      const info = await opensslStatus(['pkcs12', '-info', '-in', file, '-nodes', '-passin', 'pass:export-pw-123', ...(profile === 'legacy' ? ['-legacy'] : [])]);
      expect(info.code).toBe(0);
      expect(info.output).toContain('BEGIN PRIVATE KEY');
      expect(info.output.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      const keyPem = info.output.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/)![0];
      expect(createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'pem' })).toBe(createPrivateKey(client.keyPem).export({ type: 'pkcs8', format: 'pem' }));
      const { stdout } = await run('keytool', ['-list', '-v', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'export-pw-123']);
      expect(stdout).toMatch(/PrivateKeyEntry/);
      expect(stdout).toMatch(/Certificate chain length: 2/);
      expect((await opensslStatus(['pkcs12', '-info', '-in', file, '-nodes', '-passin', 'pass:wrong-password', '-legacy'])).code).not.toBe(0);
    }
    const audit = await t.http.get('/audit?action=identity.export').set(t.admin);
    expect(JSON.stringify(audit.body).split(created.body.id).length - 1).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(audit.body)).not.toContain('export-pw-123');

    expect((await t.http.post(`/identities/${created.body.id}/pkcs12`).set(acme.headers).send({ password: 'short' })).status).toBe(400);
    expect((await t.http.post(`/identities/${created.body.id}/pkcs12`).set(globex.headers).send({ password: 'export-pw-123' })).status).toBe(404);
    const locked = await create({ name: 'not-exportable', account: 'acme', import: { certificate: client.pem, key: client.keyPem } });
    const refused = await t.http.post(`/identities/${locked.body.id}/pkcs12`).set(acme.headers).send({ password: 'export-pw-123' });
    expect(refused.status).toBe(403);
    expect(refused.headers['content-type']).toMatch(PROBLEM);
    expect(refused.body.detail).toContain('exportable');
  });

  it('keeps no imported private key in clear anywhere in the ledger', async () => {
    await expectKeyNowhereInLedger(t, client.keyPem);
  });
});
