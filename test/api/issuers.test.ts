import { binaryBody } from '../helpers/binary';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import path from 'node:path';
import { CRLDistributionPointsExtension, AuthorityInfoAccessExtension, X509Certificate } from '@peculiar/x509';
import { backends, createTestDatabase } from '../helpers/backends';
import { MASTER_KEY } from '../helpers/custody';
import { openssl, opensslStatus } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

const BASE = 'http://ca.test';
const execFileAsync = promisify(execFile);

/** The path of a URL this service names in its certificates (PUBLIC_BASE_URL is http://ca.test). */
const pathOf = (url: string) => {
  expect(url.startsWith(BASE)).toBe(true);
  return url.slice(BASE.length);
};

function urlsOf(pem: string): { crl: string; caIssuers: string } {
  const cert = new X509Certificate(pem);
  const crl = cert.getExtension(CRLDistributionPointsExtension)!.distributionPoints[0].distributionPoint!.fullName![0].uniformResourceIdentifier!;
  const caIssuers = cert.getExtension(AuthorityInfoAccessExtension)!.caIssuers[0].value;
  return { crl, caIssuers };
}

async function saveGet(t: TestService, url: string, file: string): Promise<Buffer> {
  const res = await t.http.get(url).buffer(true).parse(binaryBody);
  expect(res.status).toBe(200);
  await fs.writeFile(path.join(t.dataDir, file), res.body as Buffer);
  return res.body as Buffer;
}

/** `openssl ocsp` asks the service (through supertest) about `certPath` with `issuerPath`; returns openssl's verdict text. */
async function ocspStatus(t: TestService, certPath: string, issuerPath: string): Promise<string> {
  const req = `${certPath}.req`;
  const resp = `${certPath}.resp`;
  await openssl(['ocsp', '-issuer', issuerPath, '-cert', certPath, '-no_nonce', '-reqout', req], { cwd: t.dataDir });
  const res = await t.http
    .post('/ocsp')
    .set('Content-Type', 'application/ocsp-request')
    .send(await fs.readFile(path.resolve(t.dataDir, req)))
    .buffer(true)
    .parse(binaryBody);
  await fs.writeFile(path.resolve(t.dataDir, resp), res.body as Buffer);
  const out = await opensslStatus(['ocsp', '-respin', resp, '-issuer', issuerPath, '-cert', certPath, '-CAfile', 'bundle.pem'], t.dataDir);
  return out.output;
}

describe.each(backends())('CA rotation: several issuers on %s', (backend) => {
  let t: TestService;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  beforeAll(async () => {
    // PostgreSQL may have several replicas: a new issuer key must be wrapped in the ledger there.
    t = await startTestService(backend, { env: backend === 'postgres' ? { MTLS_CA_MASTER_KEY: MASTER_KEY } : {}, crl: { pollMs: 100 } });
    acme = await t.createKey('acme', ['role:tenant']);
  }, 120_000);
  afterAll(() => t.close());

  it('rotates: a certificate from before and one from after both verify against /ca.pem, and each is revoked on its own CRL and OCSP', async () => {
    const before = await issue(t, acme.headers, '/CN=before/OU=acme', 'before');
    expect(urlsOf(before.pem)).toEqual({ crl: `${BASE}/crl`, caIssuers: `${BASE}/ca.crt` });

    const list0 = await t.http.get('/ca/issuers').set(t.admin);
    expect(list0.status).toBe(200);
    expect(list0.body.items).toHaveLength(1);
    const original = list0.body.items[0];
    expect(original).toMatchObject({ state: 'active', original: true });

    const created = await t.http.post('/ca/issuers').set(t.admin).send({});
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^[a-z0-9-]+$/), keyId: expect.any(String), state: 'pending', certificate: expect.stringContaining('BEGIN CERTIFICATE') });
    expect(created.body.backend).toBe(backend === 'postgres' ? 'ledger' : 'file');
    const id: string = created.body.id;

    // Published before it signs anything: the bundle has both, the active one first.
    let bundle = (await saveGet(t, '/ca.pem', 'bundle.pem')).toString();
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(bundle.indexOf(original.certificate.trim())).toBe(0);

    const activated = await t.http.post(`/ca/issuers/${id}/activate`).set(t.admin);
    expect(activated.status).toBe(200);
    expect(activated.body.state).toBe('active');
    const states = Object.fromEntries((await t.http.get('/ca/issuers').set(t.admin)).body.items.map((i: { id: string; state: string }) => [i.id, i.state]));
    expect(states).toEqual({ [original.id]: 'retired', [id]: 'active' });

    const after = await issue(t, acme.headers, '/CN=after/OU=acme', 'after');
    const afterUrls = urlsOf(after.pem);
    expect(afterUrls).toEqual({ crl: `${BASE}/crl/${id}`, caIssuers: `${BASE}/ca/${id}.crt` });
    // The AIA URL serves the issuer's certificate; openssl links the leaf to it.
    const issuerDer = await saveGet(t, pathOf(afterUrls.caIssuers), 'new-issuer.der');
    await openssl(['x509', '-inform', 'DER', '-in', 'new-issuer.der', '-out', 'new-issuer.pem'], { cwd: t.dataDir });
    expect(new X509Certificate(new Uint8Array(issuerDer)).subject).toBe(new X509Certificate(created.body.certificate).subject);
    await saveGet(t, '/ca.crt', 'old-issuer.der');
    await openssl(['x509', '-inform', 'DER', '-in', 'old-issuer.der', '-out', 'old-issuer.pem'], { cwd: t.dataDir });

    bundle = (await saveGet(t, '/ca.pem', 'bundle.pem')).toString();
    expect(bundle.indexOf(created.body.certificate.trim())).toBe(0);
    for (const c of [before, after]) {
      expect((await opensslStatus(['verify', '-CAfile', 'bundle.pem', c.certPath], t.dataDir)).output).toContain(': OK');
    }

    // Each CRL, fetched from the certificate's own distribution point, before any revocation.
    const crlOf = async (c: { pem: string }, file: string) => {
      const der = await saveGet(t, pathOf(urlsOf(c.pem).crl), `${file}.der`);
      await openssl(['crl', '-inform', 'DER', '-in', `${file}.der`, '-out', `${file}.pem`], { cwd: t.dataDir });
      return der;
    };
    await crlOf(before, 'crl-before');
    await crlOf(after, 'crl-after');
    for (const [c, crl] of [[before, 'crl-before'], [after, 'crl-after']] as const) {
      expect((await opensslStatus(['verify', '-crl_check', '-CAfile', 'bundle.pem', '-CRLfile', `${crl}.pem`, c.certPath], t.dataDir)).output).toContain(': OK');
    }
    expect(await ocspStatus(t, before.certPath, 'old-issuer.pem')).toMatch(/: good/);
    expect(await ocspStatus(t, after.certPath, 'new-issuer.pem')).toMatch(/: good/);

    const numbers = async () => {
      const n = async (p: string) => (await openssl(['crl', '-inform', 'DER', '-in', p, '-noout', '-crlnumber'], { cwd: t.dataDir })).stdout.trim();
      return [await n('crl-before.der'), await n('crl-after.der')];
    };
    const [oldNumber, newNumber] = await numbers();

    for (const c of [before, after]) expect((await t.http.delete(`/private-certificates/${c.serialNumber}?reason=keyCompromise`).set(acme.headers)).status).toBe(200);

    for (const [c, crl] of [[before, 'crl-before'], [after, 'crl-after']] as const) {
      const out = await eventually(async () => {
        await crlOf(c, crl);
        const o = (await opensslStatus(['verify', '-crl_check', '-CAfile', 'bundle.pem', '-CRLfile', `${crl}.pem`, c.certPath], t.dataDir)).output;
        return o.includes('certificate revoked') ? o : null;
      }, 10_000, 100, `the revocation of ${c.serialNumber} on its issuer's CRL`);
      expect(out).toContain('certificate revoked');
    }
    // Each issuer keeps its own CRL number, strictly increasing.
    const [oldNumber2, newNumber2] = await numbers();
    const hex = (s: string) => BigInt(s.split('=')[1]);
    expect(hex(oldNumber2)).toBeGreaterThan(hex(oldNumber));
    expect(hex(newNumber2)).toBeGreaterThan(hex(newNumber));

    expect(await ocspStatus(t, before.certPath, 'old-issuer.pem')).toMatch(/: revoked/);
    expect(await ocspStatus(t, after.certPath, 'new-issuer.pem')).toMatch(/: revoked/);
    // Response verify OK: each answer is signed for its own issuer.
    expect(await ocspStatus(t, after.certPath, 'new-issuer.pem')).toContain('Response verify OK');

    // The lookup other features use.
    const set = t.service.issuers.issuers;
    expect((await set.issuerOf(before.pem))?.record.id).toBe(original.id);
    expect((await set.issuerOf(after.pem))?.record.id).toBe(id);
    expect(set.active()?.record.id).toBe(id);
  }, 120_000);

  it('refuses bad input with problem+json', async () => {
    const unknown = await t.http.post('/ca/issuers/nosuchissuer/activate').set(t.admin);
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/application\/problem\+json/);
    const active = t.service.issuers.issuers.active()!.record.id;
    const twice = await t.http.post(`/ca/issuers/${active}/activate`).set(t.admin);
    expect(twice.status).toBe(409);
    expect(twice.body.type).toBe('urn:mtls-ca:problem:conflict');
    const retired = t.service.issuers.issuers.all().find((i) => i.record.state === 'retired');
    if (retired) expect((await t.http.post(`/ca/issuers/${retired.record.id}/activate`).set(t.admin)).status).toBe(409);
    const badBody = await t.http.post('/ca/issuers').set(t.admin).send({ csr: 'yes' });
    expect(badBody.status).toBe(400);
    const badId = await t.http.post('/ca/issuers/..%2Fx/activate').set(t.admin);
    expect([400, 404]).toContain(badId.status);
    const tenant = await t.http.post('/ca/issuers').set(acme.headers).send({});
    expect(tenant.status).toBe(403);
    const notPending = await t.http.put(`/ca/issuers/${active}/certificate`).set(t.admin).set('Content-Type', 'application/x-pem-file').send(t.service.ca.chainPem);
    expect(notPending.status).toBe(409);
    expect((await t.http.get('/ca/nosuch.crt')).status).toBe(404);
    expect((await t.http.get('/crl/nosuch')).status).toBe(404);
  });

  it('rotates to an issuer signed by an offline root made by openssl (CSR flow)', async () => {
    const res = await t.http.post('/ca/issuers').set(t.admin).send({ csr: true });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ state: 'pending', certificate: null, csr: expect.stringContaining('BEGIN CERTIFICATE REQUEST') });
    const id: string = res.body.id;
    // Not active before it has its certificate.
    expect((await t.http.post(`/ca/issuers/${id}/activate`).set(t.admin)).status).toBe(409);

    const dir = t.dataDir;
    await fs.writeFile(path.join(dir, 'issuer.csr'), res.body.csr);
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'offline.key', '-out', 'offline.pem', '-subj', '/CN=Offline Root', '-days', '3650'], { cwd: dir });
    await fs.writeFile(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    await openssl(['x509', '-req', '-in', 'issuer.csr', '-CA', 'offline.pem', '-CAkey', 'offline.key', '-CAcreateserial', '-days', '1000', '-extfile', 'ca.ext', '-out', 'issuer.pem'], { cwd: dir });
    // A certificate for another key is refused.
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-subj', '/CN=Other', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE'], { cwd: dir });
    const wrong = await t.http.put(`/ca/issuers/${id}/certificate`).set(t.admin).set('Content-Type', 'application/x-pem-file').send(await fs.readFile(path.join(dir, 'other.pem'), 'utf8'));
    expect(wrong.status).toBe(400);
    expect(wrong.body.detail).toMatch(/not for the key/);
    // A non-CA certificate for the right key is refused.
    await fs.writeFile(path.join(dir, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\n');
    await openssl(['x509', '-req', '-in', 'issuer.csr', '-CA', 'offline.pem', '-CAkey', 'offline.key', '-CAcreateserial', '-days', '10', '-extfile', 'leaf.ext', '-out', 'leaf.pem'], { cwd: dir });
    const notCa = await t.http.put(`/ca/issuers/${id}/certificate`).set(t.admin).set('Content-Type', 'application/x-pem-file').send(await fs.readFile(path.join(dir, 'leaf.pem'), 'utf8'));
    expect(notCa.status).toBe(400);
    expect(notCa.body.detail).toMatch(/not a CA certificate/);

    const chain = (await fs.readFile(path.join(dir, 'issuer.pem'), 'utf8')) + (await fs.readFile(path.join(dir, 'offline.pem'), 'utf8'));
    const put = await t.http.put(`/ca/issuers/${id}/certificate`).set(t.admin).set('Content-Type', 'application/x-pem-file').send(chain);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id, state: 'pending', subject: expect.stringContaining('mtls-ca Root CA') });
    expect((await t.http.put(`/ca/issuers/${id}/certificate`).set(t.admin).set('Content-Type', 'application/x-pem-file').send(chain)).status).toBe(409);
    expect((await t.http.post(`/ca/issuers/${id}/activate`).set(t.admin)).status).toBe(200);

    const c = await issue(t, acme.headers, '/CN=under-offline/OU=acme', 'under-offline');
    await saveGet(t, '/ca.pem', 'bundle.pem');
    expect((await opensslStatus(['verify', '-CAfile', 'offline.pem', '-untrusted', 'bundle.pem', c.certPath], dir)).output).toContain(': OK');
    // The sign answer's chain is the new issuer's chain (issuer, then the offline root).
    expect(urlsOf(c.pem).crl).toBe(`${BASE}/crl/${id}`);
  }, 120_000);
});

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

postgresOnly('CA rotation across two replicas on one PostgreSQL', () => {
  it('refuses a rotation whose key only one replica would hold (no master key) with 409', async () => {
    const t = await startTestService('postgres');
    try {
      const res = await t.http.post('/ca/issuers').set(t.admin).send({});
      expect(res.status).toBe(409);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.detail).toMatch(/MTLS_CA_MASTER_KEY/);
      expect((await t.http.get('/ca/issuers').set(t.admin)).body.items).toHaveLength(1);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('the other replica follows a rotation, signs with the new issuer, and shows revocations on each issuer CRL', async () => {
    const db = await createTestDatabase('postgres');
    const env = { MTLS_CA_MASTER_KEY: MASTER_KEY };
    const a = await startTestService('postgres', { db, env, crl: { pollMs: 100 } });
    const b = await startTestService('postgres', { db, env, crl: { pollMs: 100 } });
    try {
      const tenant = await a.createKey('acme', ['role:tenant']);
      const old = await issue(b, tenant.headers, '/CN=old/OU=acme', 'old');
      const created = await a.http.post('/ca/issuers').set(a.admin).send({});
      expect(created.status).toBe(201);
      const id: string = created.body.id;
      await eventually(async () => ((await b.http.get('/ca.pem')).text.includes(created.body.certificate.trim()) ? true : null), 10_000, 50, 'the pending issuer in b\'s bundle');
      expect((await a.http.post(`/ca/issuers/${id}/activate`).set(a.admin)).status).toBe(200);
      await eventually(async () => (b.service.issuers.issuers.active()?.record.id === id ? true : null), 10_000, 50, 'b to follow the activation');
      const fresh = await issue(b, tenant.headers, '/CN=fresh/OU=acme', 'fresh');
      expect(urlsOf(fresh.pem).crl).toBe(`${BASE}/crl/${id}`);
      // Revoked on a: on the issuer's CRL at b.
      for (const c of [old, fresh]) expect((await a.http.delete(`/private-certificates/${c.serialNumber}`).set(tenant.headers)).status).toBe(200);
      for (const c of [old, fresh]) {
        await eventually(async () => {
          const der = await saveGet(b, pathOf(urlsOf(c.pem).crl), 'b-crl.der');
          const text = (await openssl(['crl', '-inform', 'DER', '-in', 'b-crl.der', '-noout', '-text'], { cwd: b.dataDir })).stdout;
          return der.length > 0 && text.toUpperCase().includes(c.serialNumber.replace(/^0+/, '')) ? true : null;
        }, 10_000, 100, `${c.serialNumber} on b's CRL of its issuer`);
      }
    } finally {
      await a.service.close();
      await b.service.close();
      await db.drop();
    }
  }, 120_000);
});

/** nginx (the real one) trusting /ca.pem with every issuer's CRL (/crls.pem as ssl_crl) in front of a static answer. */
describe('CA rotation seen by nginx', () => {
  it('accepts certificates of both issuers, then refuses each once revoked', async () => {
    const t = await startTestService('pglite', { crl: { pollMs: 100 } });
    const dir = t.dataDir;
    let nginx: ChildProcess | null = null;
    try {
      const acme = await t.createKey('acme', ['role:tenant']);
      const before = await issue(t, acme.headers, '/CN=before/OU=acme', 'n-before');
      const id: string = (await t.http.post('/ca/issuers').set(t.admin).send({})).body.id;
      expect((await t.http.post(`/ca/issuers/${id}/activate`).set(t.admin)).status).toBe(200);
      const after = await issue(t, acme.headers, '/CN=after/OU=acme', 'n-after');

      await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.crt', '-subj', '/CN=localhost', '-days', '2'], { cwd: dir });
      const port = await freePort();
      const prefix = path.join(dir, 'nginx');
      await fs.mkdir(path.join(prefix, 'logs'), { recursive: true });
      const conf = `pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log info;
events {}
http {
  access_log off; client_body_temp_path ${prefix}; proxy_temp_path ${prefix}; fastcgi_temp_path ${prefix}; uwsgi_temp_path ${prefix}; scgi_temp_path ${prefix};
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/server.crt; ssl_certificate_key ${dir}/server.key;
    ssl_client_certificate ${dir}/bundle.pem; ssl_verify_client on; ssl_verify_depth 3;
    ssl_crl ${dir}/crls.pem;
    location / { return 200 "hello $ssl_client_s_dn\\n"; }
  }
}
`;
      await fs.writeFile(path.join(dir, 'nginx.conf'), conf);
      const load = async () => {
        await saveGet(t, '/ca.pem', 'bundle.pem');
        await saveGet(t, '/crls.pem', 'crls.pem');
      };
      const curl = async (c: { certPath: string; keyPath: string }) =>
        (await execFileAsync('curl', ['-sk', '--cert', c.certPath, '--key', c.keyPath, `https://127.0.0.1:${port}/`]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }))).stdout;
      await load();
      expect((await fs.readFile(path.join(dir, 'crls.pem'), 'utf8')).match(/BEGIN X509 CRL/g)).toHaveLength(2);
      nginx = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
      await eventually(async () => ((await curl(before)).includes('hello') ? true : null), 20_000, 100, 'nginx to answer');
      expect(await curl(before)).toContain('CN=before');
      expect(await curl(after)).toContain('CN=after');

      for (const c of [before, after]) expect((await t.http.delete(`/private-certificates/${c.serialNumber}`).set(acme.headers)).status).toBe(200);
      await eventually(async () => {
        await load();
        await execFileAsync('/usr/sbin/nginx', ['-p', prefix, '-c', path.join(dir, 'nginx.conf'), '-s', 'reload']);
        const [b, a] = [await curl(before), await curl(after)];
        return b.includes('400 The SSL certificate error') && a.includes('400 The SSL certificate error') ? true : null;
      }, 20_000, 300, 'nginx to refuse both revoked certificates');
      // Refused for revocation (nginx logs the verify error), not for anything else.
      const log = await fs.readFile(path.join(prefix, 'logs', 'error.log'), 'utf8');
      expect(log.match(/certificate revoked/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    } finally {
      nginx?.kill('SIGTERM');
      await t.close();
    }
  }, 120_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

describe('the life of the active issuer', () => {
  it('clamps leaves to it, warns when it is shorter than CERT_MAX_VALIDITY_DAYS, and refuses to start once it has expired', async () => {
    let offsetMs = 0;
    const clock = { now: () => new Date(Date.now() + offsetMs) };
    const t = await startTestService('pglite', { env: { CA_VALIDITY_DAYS: '10', CERT_VALIDITY_DAYS: '30', CERT_MAX_VALIDITY_DAYS: '30' }, clock });
    try {
      const acme = await t.createKey('acme', ['role:tenant']);
      const c = await issue(t, acme.headers, '/CN=short/OU=acme', 'short');
      expect(new X509Certificate(c.pem).notAfter.getTime()).toBeLessThanOrEqual(t.service.ca.notAfter.getTime());
      const ready = await t.http.get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.details.activeIssuerWarning).toMatch(/sooner than CERT_MAX_VALIDITY_DAYS=30/);
      const metrics = await t.http.get('/metrics');
      if (metrics.status === 200) expect(metrics.text).toMatch(/active_issuer_expiry_seconds \d/);
      offsetMs = 11 * 86_400_000;
      await t.service.close();
      await expect(startTestService('pglite', { env: { CA_VALIDITY_DAYS: '10' }, clock, dataDir: t.dataDir, db: t.db })).rejects.toThrow(/active issuer .* expired/);
    } finally {
      await fs.rm(t.dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
