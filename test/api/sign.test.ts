import { binaryBody } from '../helpers/binary';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backends } from '../helpers/backends';
import { fixture, openssl, opensslStatus } from '../helpers/openssl';
import { startTestService, type TestService } from '../helpers/test-service';

const PROBLEM = /^application\/problem\+json/;

describe.each(backends())('signing on %s', (backend) => {
  let t: TestService;
  let tenant: Awaited<ReturnType<TestService['createKey']>>;

  beforeAll(async () => {
    t = await startTestService(backend);
    tenant = await t.createKey('acme', ['certificates:sign', 'certificates:read']);
  });
  afterAll(() => t.close());

  const sign = (body: Buffer | string, headers: Record<string, string> = tenant.headers, type = 'text/plain') =>
    t.http.post('/private-certificates/sign').set(headers).set('Content-Type', type).send(body);

  it('signs the VTEX-style CSR into a certificate that openssl verifies against /ca.pem', async () => {
    const res = await sign(await fixture('vtex-rsa2048-sha512.csr'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    expect(res.headers.location).toMatch(/^\/private-certificates\/[0-9A-F]{32}$/);

    const dir = t.dataDir;
    await fs.writeFile(path.join(dir, 'app.crt'), res.text);
    const ca = await t.http.get('/ca.pem');
    expect(ca.status).toBe(200);
    await fs.writeFile(path.join(dir, 'ca.pem'), ca.text);
    const verify = await opensslStatus(['verify', '-CAfile', 'ca.pem', 'app.crt'], dir);
    expect(verify.output).toContain('app.crt: OK');
    expect(verify.code).toBe(0);

    const { stdout } = await openssl(['x509', '-in', 'app.crt', '-noout', '-text'], { cwd: dir });
    // The subject is re-encoded, not copied: fixed order C, ST, L, O, OU, CN; C a PrintableString, the rest UTF8String.
    expect(stdout).toContain('Subject: C = BR, ST = PE, L = Recife, OU = acme, CN = erp-connector');
    const typed = await openssl(['x509', '-in', 'app.crt', '-noout', '-subject', '-nameopt', 'show_type,sep_comma_plus'], { cwd: dir });
    expect(typed.stdout.trim()).toBe('subject=C=PRINTABLESTRING:BR,ST=UTF8STRING:PE,L=UTF8STRING:Recife,OU=UTF8STRING:acme,CN=UTF8STRING:erp-connector');
    expect(stdout).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(stdout).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(stdout).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/);
    expect(stdout).toContain('Subject Key Identifier');
    expect(stdout).toContain('Authority Key Identifier');
    expect(stdout).toContain('URI:http://ca.test/crl');
    expect(stdout).toContain('CA Issuers - URI:http://ca.test/ca.crt');
    const serial = (await openssl(['x509', '-in', 'app.crt', '-noout', '-serial'], { cwd: dir })).stdout.trim();
    expect(serial).toBe(`serial=${res.headers.location.split('/').pop()}`);
  });

  it('records the certificate in the ledger before answering', async () => {
    const res = await sign(await fixture('ec-p256.csr'));
    expect(res.status).toBe(200);
    const serial = res.headers.location.split('/').pop() as string;
    const row = await t.service.ledger.certificates.findBySerial(serial);
    expect(row).not.toBeNull();
    expect(row).toMatchObject({
      serialNumber: serial,
      account: 'acme',
      commonName: 'erp-connector',
      subject: 'CN=erp-connector, OU=acme, L=Recife, ST=PE, C=BR',
      requestedBy: tenant.appKey,
      issuerKeyId: t.service.ca.keyId,
      pem: res.text,
      revocation: null,
    });
    expect(row!.publicKeySha256).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.notAfter.getTime() - row!.notBefore.getTime()).toBe(365 * 86_400_000 + 300_000);
  });

  it('answers JSON with Accept: application/json, on the /api/edge path too', async () => {
    const res = await t.http
      .post('/api/edge/private-certificates/sign')
      .set(tenant.headers)
      .set('Content-Type', 'text/plain')
      .set('Accept', 'application/json')
      .send(await fixture('ec-p384.csr'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      serialNumber: expect.stringMatching(/^[0-9A-F]{32}$/),
      certificate: expect.stringContaining('BEGIN CERTIFICATE'),
      chain: (await t.http.get('/ca.pem')).text,
      subject: 'CN=erp-connector, OU=acme, L=Recife, ST=PE, C=BR',
      account: 'acme',
      commonName: 'erp-connector',
      notBefore: expect.any(String),
      notAfter: expect.any(String),
    });
    expect(res.headers.location).toBe(`/private-certificates/${res.body.serialNumber}`);
  });

  it('accepts application/pkcs10 as DER and as PEM, and P-521 and RSA-4096 keys', async () => {
    expect((await sign(await fixture('ec-p256.der'), tenant.headers, 'application/pkcs10')).status).toBe(200);
    expect((await sign(await fixture('ec-p521.csr'), tenant.headers, 'application/pkcs10')).status).toBe(200);
    expect((await sign(await fixture('rsa4096.csr'))).status).toBe(200);
  });

  it('serves the CA as DER at /ca.crt', async () => {
    const res = await t.http.get('/ca.crt').buffer(true).parse(binaryBody);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/pkix-cert');
    expect(Buffer.compare(res.body as Buffer, t.service.ca.certificateDer)).toBe(0);
  });

  describe('rejects bad CSRs with 400 problem+json and writes no ledger row', () => {
    const cases: [string, string, string, RegExp][] = [
      ['an RSA key under 2048 bits', 'rsa1024.csr', 'key-not-allowed', /2048 to 8192 bits; this one has 1024/],
      ['an RSA key over 8192 bits', 'rsa8704.csr', 'key-not-allowed', /this one has 8704/],
      ['an EC curve other than P-256/384/521', 'ec-secp256k1.csr', 'key-not-allowed', /P-256, P-384 or P-521/],
      ['an Ed25519 key', 'ed25519.csr', 'key-not-allowed', /1\.3\.101\.112 is not accepted/],
      ['a CSR signed with MD5', 'md5.csr', 'weak-csr-signature', /MD5/],
      ['an RSA key with public exponent 3', 'rsa-e3.csr', 'key-not-allowed', /exponent/],
      ['a CSR signed with RSASSA-PSS', 'rsa-pss.csr', 'weak-csr-signature', /RSASSA-PSS/],
      ['a CSR signed with SHA-1 (RSA)', 'sha1.csr', 'weak-csr-signature', /SHA-1/],
      ['a CSR signed with SHA-1 (ECDSA)', 'ecdsa-sha1.csr', 'weak-csr-signature', /SHA-1/],
      ['a CSR without CN', 'no-cn.csr', 'subject-not-allowed', /no CN/],
      ['a CSR without OU', 'no-ou.csr', 'subject-not-allowed', /no OU/],
      ['a CSR with two CNs', 'two-cn.csr', 'subject-not-allowed', /more than one CN/],
      ['a CSR with two OUs', 'two-ou.csr', 'subject-not-allowed', /more than one OU/],
      ['a CN that is not an application name', 'bad-cn.csr', 'subject-not-allowed', /CN must be an application name/],
      ['a C that is not two letters', 'bad-country.csr', 'subject-not-allowed', /two-letter country/],
      ['a subject attribute outside CN, OU, O, L, ST, C', 'email-attr.csr', 'subject-not-allowed', /1\.2\.840\.113549\.1\.9\.1/],
      ['a CSR whose signature is invalid', 'bad-signature.csr', 'csr-signature-invalid', /signature/],
      ['a PEM that is not a CSR', 'certificate.pem', 'not-a-csr', /CERTIFICATE, not a CERTIFICATE REQUEST/],
    ];
    it.each(cases)('%s', async (_name, file, kind, detail) => {
      const before = await t.service.ledger.certificates.count();
      const res = await sign(await fixture(file));
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(res.body.type).toBe(`urn:mtls-ca:problem:${kind}`);
      expect(res.body.detail).toMatch(detail);
      expect(await t.service.ledger.certificates.count()).toBe(before);
    });

    it.each([
      ['garbage text', 'hello, I am not a CSR', 'malformed-csr'],
      ['an empty body', '', 'malformed-csr'],
      ['a truncated PEM', '-----BEGIN CERTIFICATE REQUEST-----\nMIIBIjAN\n', 'malformed-csr'],
      ['valid PEM around garbage DER', '-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n', 'malformed-csr'],
      ['two PEM blocks', '', 'malformed-csr'],
    ])('%s', async (name, body, kind) => {
      const payload = name === 'two PEM blocks' ? Buffer.concat([await fixture('ec-p256.csr'), await fixture('ec-p384.csr')]) : body;
      const res = await sign(payload);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(res.body.type).toBe(`urn:mtls-ca:problem:${kind}`);
    });
  });

  it('answers 413 for a body over 64 KiB', async () => {
    const res = await sign('A'.repeat(64 * 1024 + 1));
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(PROBLEM);
    expect(res.body.type).toBe('urn:mtls-ca:problem:payload-too-large');
  });

  it('answers 415 for an unsupported content type or charset', async () => {
    const csr = await fixture('ec-p256.csr');
    for (const type of ['application/json', 'text/plain; charset=utf-16']) {
      const res = await sign(csr, tenant.headers, type);
      expect(res.status).toBe(415);
      expect(res.body.type).toBe('urn:mtls-ca:problem:unsupported-media-type');
    }
    const none = await t.http.post('/private-certificates/sign').set(tenant.headers).send(csr.toString('base64'));
    expect(none.status).toBe(415);
  });

  it('answers 503 and no certificate when the ledger cannot be written', async () => {
    await t.service.ledger.sql.exec(`
      CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
      CREATE TRIGGER refuse_insert BEFORE INSERT ON certificates FOR EACH ROW EXECUTE FUNCTION refuse_insert();`);
    try {
      const before = await t.service.ledger.certificates.count();
      const res = await sign(await fixture('ec-p256.csr'));
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(res.body.type).toBe('urn:mtls-ca:problem:ledger-unavailable');
      expect(res.text).not.toContain('BEGIN CERTIFICATE');
      expect(res.text).not.toContain('disk full');
      expect(await t.service.ledger.certificates.count()).toBe(before);
    } finally {
      await t.service.ledger.sql.exec('DROP TRIGGER refuse_insert ON certificates; DROP FUNCTION refuse_insert();');
    }
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await t.http.get('/nope');
    expect(res.status).toBe(404);
    expect(res.body.type).toBe('urn:mtls-ca:problem:not-found');
  });
});
