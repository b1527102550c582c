import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backends } from '../helpers/backends';
import { MASTER_KEY } from '../helpers/custody';
import { openssl, tempDir } from '../helpers/openssl';
import { expectKeyNowhereInLedger } from '../helpers/ledger-scan';
import { makeCa, makeClient, signCsr, type OpensslCa } from '../helpers/partner-ca';
import { startTestService, type TestService } from '../helpers/test-service';

const PROBLEM = /^application\/problem\+json/;
const DAY = 24 * 3600_000;

describe.each(backends())("client identities for a partner's CA (CSR, then PUT certificate) on %s", (backend) => {
  let t: TestService;
  let dir: string;
  let root: OpensslCa;
  let intermediate: OpensslCa;
  let stranger: OpensslCa;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  let globex: Awaited<ReturnType<TestService['createKey']>>;
  /** The service's clock runs this far from the real one (expiry cases). */
  let offset = 0;

  beforeAll(async () => {
    dir = await tempDir('identities-partner-');
    t = await startTestService(backend, { env: { MTLS_CA_MASTER_KEY: MASTER_KEY }, clock: { now: () => new Date(Date.now() + offset) } });
    acme = await t.createKey('acme', ['identities:manage']);
    globex = await t.createKey('globex', ['identities:manage']);
    root = await makeCa(dir, 'partner-root');
    intermediate = await makeCa(dir, 'partner-issuing', root);
    stranger = await makeCa(dir, 'stranger-ca');
  }, 60_000);
  afterAll(async () => {
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    offset = 0;
  });

  const requestCsr = async (name: string, subject: object = { commonName: 'acme-at-partner', organization: 'Acme Corp', country: 'DE' }, keyType = 'ec-p256') => {
    const res = await t.http.post('/identities').set(acme.headers).send({ name, account: 'acme', csr: { subject, keyType } });
    expect(res.status).toBe(201);
    return res;
  };
  const putPem = (id: string, pem: string, headers = acme.headers) =>
    t.http.put(`/identities/${id}/certificate`).set(headers).set('Content-Type', 'application/x-pem-file').send(pem);

  it('answers a CSR made with the kept key, takes the signed certificate and its chain, and presents them', async () => {
    const created = await requestCsr('partner-b', { commonName: 'acme-at-partner', organizationalUnit: 'Integrations', organization: 'Acme Corp', country: 'DE' }, 'rsa-2048');
    expect(created.body).toMatchObject({ origin: 'partner-ca', state: 'pending-certificate', certificate: null, keyType: 'RSA-2048', revision: 1 });
    expect(JSON.stringify(created.body)).not.toMatch(/PRIVATE KEY/);
    const csrFile = path.join(dir, 'partner-b.csr');
    await fs.writeFile(csrFile, created.body.csr);
    const shown = await openssl(['req', '-in', csrFile, '-noout', '-verify', '-subject', '-nameopt', 'RFC2253']);
    expect(shown.stdout).toContain('subject=CN=acme-at-partner,OU=Integrations,O=Acme Corp,C=DE');
    expect(shown.stderr + shown.stdout).toMatch(/verify OK/i);
    await expect(t.service.identities.tlsMaterial('acme', created.body.id)).rejects.toMatchObject({ kind: 'conflict' });

    const leaf = await signCsr(dir, intermediate, created.body.csr);
    const put = await putPem(created.body.id, leaf + intermediate.pem + root.pem);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ state: 'active', origin: 'partner-ca', revision: 2 });
    expect(put.body.chain).toHaveLength(2);
    expect(new X509Certificate(put.body.certificate).fingerprint256).toBe(new X509Certificate(leaf).fingerprint256);
    const material = await t.service.identities.tlsMaterial('acme', created.body.id);
    expect(new X509Certificate(material.certificatePem).checkPrivateKey(createPrivateKey(material.keyPem))).toBe(true);
    expect(material.chainPem).toHaveLength(2);

    // Rotation: the partner signs again; JSON body, chain as a list; the revision (and the pool version) moves on.
    const renewed = await signCsr(dir, intermediate, created.body.csr);
    const again = await t.http.put(`/identities/${created.body.id}/certificate`).set(acme.headers).send({ certificate: renewed, chain: [intermediate.pem] });
    expect(again.status).toBe(200);
    expect(again.body.revision).toBe(3);
    expect(again.body.fingerprint).not.toBe(put.body.fingerprint);
    const rotated = await t.service.identities.tlsMaterial('acme', created.body.id);
    expect(rotated.version).not.toBe(material.version);
    expect(rotated.certificatePem).toBe(new X509Certificate(renewed).toString());

    const audit = await t.http.get('/audit?action=identity.certificate').set(t.admin);
    expect(audit.status).toBe(200);
    const records = audit.body.items.filter((r: { details: { identityId?: string } }) => r.details.identityId === created.body.id);
    expect(records).toHaveLength(2);
    expect(records[0].details).toMatchObject({ fingerprintSha256: again.body.fingerprint, replacedFingerprintSha256: put.body.fingerprint });

    // The generated key is kept wrapped only: in no column of any table in clear.
    await expectKeyNowhereInLedger(t, material.keyPem);
  });

  it.each([
    ['a certificate for another key', async () => (await makeClient(dir, intermediate, `other-${Date.now()}`, '/CN=someone-else')).pem + intermediate.pem, /public key is not this identity's key/],
    ['a chain whose certificate did not sign the leaf', async (csr: string) => (await signCsr(dir, intermediate, csr)) + stranger.pem, /chain\[0\] did not sign the certificate/],
    ['a chain out of order', async (csr: string) => (await signCsr(dir, intermediate, csr)) + root.pem + intermediate.pem, /did not sign/],
    ['a certificate for serverAuth only', async (csr: string) => signCsr(dir, intermediate, csr, 'extendedKeyUsage=serverAuth\n'), /clientAuth/],
    ['not a certificate', async () => 'hello', /PEM CERTIFICATE block/],
    ['a CSR instead of a certificate', async (csr: string) => csr, /expected PEM CERTIFICATE blocks, got CERTIFICATE REQUEST/],
    ['garbage in a PEM block', async () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /not a valid X.509 certificate/],
  ])('refuses %s with 400 problem+json and keeps the identity pending', async (label, make, detail) => {
    const created = await requestCsr(`refuse-${label.replace(/[^a-z]/g, '')}`);
    const res = await putPem(created.body.id, await make(created.body.csr));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM);
    expect(res.body.detail).toMatch(detail);
    const after = await t.http.get(`/identities/${created.body.id}`).set(acme.headers);
    expect(after.body).toMatchObject({ state: 'pending-certificate', revision: 1, certificate: null });
  });

  it('refuses an expired certificate, and no longer presents an identity once its certificate expired', async () => {
    const created = await requestCsr('expiring');
    const pem = await signCsr(dir, root, created.body.csr, 'extendedKeyUsage=clientAuth\n', 1);
    offset = 2 * DAY;
    const late = await putPem(created.body.id, pem);
    expect(late.status).toBe(400);
    expect(late.body.detail).toMatch(/expired/);
    offset = 0;
    expect((await putPem(created.body.id, pem)).status).toBe(200);
    await expect(t.service.identities.tlsMaterial('acme', created.body.id)).resolves.toMatchObject({ identityId: created.body.id });
    offset = 2 * DAY;
    await expect(t.service.identities.tlsMaterial('acme', created.body.id)).rejects.toMatchObject({ kind: 'conflict', detail: expect.stringMatching(/expired at/) });
    expect((await t.http.get(`/identities/${created.body.id}`).set(acme.headers)).body.state).toBe('expired');
    offset = -DAY;
    await expect(t.service.identities.tlsMaterial('acme', created.body.id)).rejects.toMatchObject({ kind: 'conflict', detail: expect.stringMatching(/not valid before/) });
    const early = await putPem(created.body.id, pem);
    expect(early.status).toBe(400);
    expect(early.body.detail).toMatch(/not valid before/);
  });

  it("keeps another account's identity out of reach (404) and refuses PUT on an identity issued here (409)", async () => {
    const created = await requestCsr('tenant-scoped');
    const pem = await signCsr(dir, root, created.body.csr);
    const theirs = await putPem(created.body.id, pem, globex.headers);
    expect(theirs.status).toBe(404);
    expect(theirs.headers['content-type']).toMatch(PROBLEM);
    const forGlobex = await t.http.post('/identities').set(acme.headers).send({ name: 'x', account: 'globex', csr: { subject: { commonName: 'x' } } });
    expect(forGlobex.status).toBe(403);
    const issued = await t.http.post('/identities').set(acme.headers).send({ name: 'issued-here', account: 'acme', issue: { commonName: 'issued-here' } });
    expect(issued.status).toBe(201);
    const onIssued = await putPem(issued.body.id, pem);
    expect(onIssued.status).toBe(409);
    const admin = await putPem(created.body.id, pem, t.admin);
    expect(admin.status).toBe(200);
  });

  it.each([
    ['an unknown subject attribute', { commonName: 'a', email: 'x@y' }],
    ['a lowercase country', { commonName: 'a', country: 'de' }],
    ['a control character', { commonName: 'a\u0000b' }],
    ['an empty common name', { commonName: '' }],
    ['a DN string', 'CN=a, O=b'],
  ])('refuses a CSR subject with %s (400)', async (_label, subject) => {
    const res = await t.http.post('/identities').set(acme.headers).send({ name: 'bad-subject', account: 'acme', csr: { subject } });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM);
  });

  it('refuses a body naming two sources', async () => {
    const res = await t.http.post('/identities').set(acme.headers).send({ name: 'two', account: 'acme', issue: { commonName: 'a' }, csr: { subject: { commonName: 'a' } } });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain('exactly one of issue, csr, import, pkcs12');
  });
});
