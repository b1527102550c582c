import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backends } from '../helpers/backends';
import { openssl, tempDir } from '../helpers/openssl';
import { headersOf, startTestService, type TestService } from '../helpers/test-service';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A partner CA, a client it issued, a self-signed client and a weak-key CA, all made with openssl. */
async function partnerPki(dir: string) {
  const run = (args: string[]) => openssl(args, { cwd: dir });
  await run(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=Partner Root CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run(['req', '-x509', ...EC, '-keyout', 'self.key', '-out', 'self.pem', '-days', '30', '-subj', '/CN=partner-client/OU=other-account', '-addext', 'basicConstraints=critical,CA:FALSE']);
  await run(['req', '-x509', ...EC, '-keyout', 'self2.key', '-out', 'self2.pem', '-days', '30', '-subj', '/CN=partner-client/OU=other-account', '-addext', 'basicConstraints=critical,CA:FALSE']);
  await run(['req', '-x509', ...EC, '-keyout', 'self3.key', '-out', 'self3.pem', '-days', '30', '-subj', '/CN=partner-client/OU=other-account', '-addext', 'basicConstraints=critical,CA:FALSE']);
  await run(['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', 'weak.key', '-out', 'weak.pem', '-days', '30', '-subj', '/CN=Weak CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  await run(['req', '-x509', ...EC, '-keyout', 'nosign.key', '-out', 'nosign.pem', '-days', '30', '-subj', '/CN=No keyCertSign', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature']);
  await run(['req', '-new', ...EC, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=leaf/OU=other-account']);
  await fs.writeFile(path.join(dir, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  await run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '10', '-extfile', 'leaf.ext']);
  const read = (name: string) => fs.readFile(path.join(dir, name), 'utf8');
  return { ca: await read('ca.pem'), self: await read('self.pem'), self2: await read('self2.pem'), self3: await read('self3.pem'), weak: await read('weak.pem'), nosign: await read('nosign.pem'), leaf: await read('leaf.pem') };
}

describe.each(backends())("partners' own PKI registry on %s", (backend) => {
  let t: TestService;
  let pki: Awaited<ReturnType<typeof partnerPki>>;
  beforeAll(async () => {
    t = await startTestService(backend);
    pki = await partnerPki(await tempDir());
  }, 120_000);
  afterAll(() => t.close());

  it('adds, lists and deletes a trust anchor for its account; audited', async () => {
    const res = await t.http.post('/trust-anchors').set(t.admin).send({ account: 'digibee', certificate: pki.ca });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'anchor', account: 'digibee', subject: expect.stringContaining('Partner Root CA'), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(res.headers.location).toBe(`/trust-anchors/${res.body.id}`);
    const dup = await t.http.post('/trust-anchors').set(t.admin).send({ account: 'digibee', certificate: pki.ca });
    expect(dup.status).toBe(409);
    expect(dup.headers['content-type']).toMatch(/^application\/problem\+json/);
    // One CA, one account: the gateway could not tell which account a client of a shared CA belongs to.
    const shared = await t.http.post('/trust-anchors').set(t.admin).send({ account: 'nuapay', certificate: pki.ca });
    expect(shared.status).toBe(409);
    expect(shared.body.detail).toContain('another account');
    const list = await t.http.get('/trust-anchors?account=digibee').set(t.admin);
    expect(list.body.items.map((i: { id: string }) => i.id)).toEqual([res.body.id]);
    const del = await t.http.delete(`/trust-anchors/${res.body.id}`).set(t.admin);
    expect(del.status).toBe(200);
    expect((await t.http.delete(`/trust-anchors/${res.body.id}`).set(t.admin)).status).toBe(404);
    const audit = await t.http.get('/audit?action=trust-anchor.add').set(t.admin);
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.body)).toContain(res.body.id);
  });

  it.each([
    ['not PEM', () => 'hello'],
    ['garbage in a PEM block', () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
    ['a self-signed leaf', () => pki.self],
    ['a leaf issued by the partner CA', () => pki.leaf],
    ['a CA without keyCertSign', () => pki.nosign],
    ['a 1024-bit RSA CA', () => pki.weak],
  ])('refuses %s as an anchor with 4xx problem+json', async (_name, cert) => {
    const res = await t.http.post('/trust-anchors').set(t.admin).send({ account: 'digibee', certificate: cert() });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('registers at most two certificates per account and subject; rotation by adding the second then deleting the first', async () => {
    const first = await t.http.post('/client-certificates').set(t.admin).send({ account: 'nuapay', certificate: pki.self });
    expect(first.status).toBe(201);
    const second = await t.http.post('/client-certificates').set(t.admin).send({ account: 'nuapay', certificate: pki.self2 });
    expect(second.status).toBe(201);
    const third = await t.http.post('/client-certificates').set(t.admin).send({ account: 'nuapay', certificate: pki.self3 });
    expect(third.status).toBe(409);
    expect(third.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await t.http.delete(`/client-certificates/${first.body.id}`).set(t.admin)).status).toBe(200);
    expect((await t.http.post('/client-certificates').set(t.admin).send({ account: 'nuapay', certificate: pki.self3 })).status).toBe(201);
    expect((await t.http.post('/client-certificates').set(t.admin).send({ account: 'nuapay', certificate: pki.ca })).status).toBe(400);
  });

  it('only admin writes; the gateway key reads trust material and nothing else', async () => {
    const tenant = headersOf(await t.createKey('digibee', ['role:tenant']));
    const gateway = headersOf(await t.createKey('gateway', ['role:gateway']));
    expect((await t.http.post('/trust-anchors').set(tenant).send({ account: 'digibee', certificate: pki.ca })).status).toBe(403);
    expect((await t.http.post('/trust-anchors').set(gateway).send({ account: 'digibee', certificate: pki.ca })).status).toBe(403);
    expect((await t.http.get('/client-certificates').set(gateway)).status).toBe(403);
    expect((await t.http.get('/keys').set(gateway)).status).toBe(403);
    expect((await t.http.get('/gateway/trust-material').set(tenant)).status).toBe(403);
    expect((await t.http.get('/gateway/trust-material')).status).toBe(401);
    await t.http.post('/trust-anchors').set(t.admin).send({ account: 'digibee', certificate: pki.ca }).expect(201);
    const material = await t.http.get('/gateway/trust-material').set(gateway);
    expect(material.status).toBe(200);
    expect(material.body.anchors).toEqual(expect.arrayContaining([expect.objectContaining({ account: 'digibee' })]));
    expect(material.body.clientCertificates.every((c: { account: string }) => c.account === 'nuapay')).toBe(true);
    const etag = material.headers.etag;
    expect((await t.http.get('/gateway/trust-material').set(gateway).set('If-None-Match', etag)).status).toBe(304);
  });
});
