import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { FixedClock } from '../../src/domain/clock';
import { issueServerCertificate } from '../../src/ca/server-certificate';
import { randomSerialSource } from '../../src/domain/serial-number';
import { createHttpServer, createHttpsServer } from '../../src/http/server';
import { httpLimitsOf } from '../../src/main';
import { loadConfig } from '../../src/config';
import { backends } from '../helpers/backends';
import { count } from '../helpers/metrics';
import { makeCsr, openssl, opensslStatus, tempDir } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, testServiceEnv, type TestService } from '../helpers/test-service';

jest.setTimeout(120_000);

interface Curl {
  code: number;
  status: number;
  body: string;
}

/** curl as a user runs it; answers the HTTP status and body (code: curl's exit code). */
function curl(args: string[]): Promise<Curl> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', ...args], { maxBuffer: 1 << 20 }, (err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, status: Number(stdout.slice(i + 1)) || 0, body: stdout.slice(0, i) });
    });
  });
}

const DAY = 86_400_000;
const ENV = {
  HTTPS_PORT: '0',
  TLS_SERVER_NAMES: '127.0.0.1,renew.test',
  TLS_SERVER_CERT_VALIDITY: '1h',
  CLIENT_CERT_HEADER: 'X-Client-Cert',
  // nginx below connects from 127.0.0.2 (proxy_bind); the tests themselves from 127.0.0.1.
  TRUST_PROXY: '127.0.0.2',
  RENEW_MIN_INTERVAL_SECONDS: '3600',
  RENEW_AFTER_EXPIRY: '30d',
};

describe.each(backends())('renewal with the certificate in hand (%s)', (backend) => {
  let t: TestService;
  let clock: FixedClock;
  let https: Server;
  let http: Server;
  let base: string;
  let dir: string;
  let caPem: string;
  let firstServerSerial: string;

  const renew = (cert: { certPath: string; keyPath: string }, extra: string[] = [], url = `${base}/private-certificates/renew`) =>
    curl(['-X', 'POST', '--cert', cert.certPath, '--key', cert.keyPath, '--cacert', caPem, ...extra, url]);

  const entry = async (serial: string) => (await t.http.get(`/private-certificates/${serial}`).set(t.admin)).body;

  beforeAll(async () => {
    dir = await tempDir('renew-');
    // Started 50 minutes in the past: the first server certificate (1 h) is due for renewal once the clock is set to now.
    clock = new FixedClock(new Date(Date.now() - 50 * 60_000));
    t = await startTestService(backend, { clock, env: ENV, tlsCheckIntervalMs: 100 });
    const config = loadConfig(testServiceEnv(t.dataDir, ENV));
    https = createHttpsServer(t.service.app, httpLimitsOf(config), t.service.tls!).listen(0, '127.0.0.1');
    http = createHttpServer(t.service.app, httpLimitsOf(config)).listen(0, '127.0.0.1');
    await Promise.all([https, http].map((s) => new Promise((r) => s.once('listening', r))));
    base = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
    caPem = path.join(dir, 'ca.pem');
    await fs.writeFile(caPem, t.service.ca.chainPem);
    firstServerSerial = t.service.tls!.serialNumber!;
  });

  afterAll(async () => {
    await Promise.all([https, http].map((s) => new Promise((r) => s.close(r))));
    await t.close();
  });

  it('serves HTTPS with a server certificate of its own CA for PUBLIC_BASE_URL and TLS_SERVER_NAMES, and replaces it before it expires', async () => {
    const port = (https.address() as AddressInfo).port;
    // curl checks the names: the host of PUBLIC_BASE_URL (ca.test), both TLS_SERVER_NAMES.
    for (const name of ['ca.test', 'renew.test']) {
      const res = await curl(['--cacert', caPem, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/healthz`]);
      expect(res).toMatchObject({ code: 0, status: 200 });
    }
    expect(await curl(['--cacert', caPem, `${base}/healthz`])).toMatchObject({ code: 0, status: 200 });
    // A name it was not issued for is refused by curl.
    const wrong = await curl(['--cacert', caPem, '--resolve', `other.test:${port}:127.0.0.1`, `https://other.test:${port}/healthz`]);
    expect(wrong.code).not.toBe(0);
    // The server certificate is in the ledger under the reserved account.
    expect(await entry(firstServerSerial)).toMatchObject({ account: 'mtls-ca', commonName: 'ca.test', status: 'valid' });

    // Two thirds of its hour have passed once the clock is now: a new one is issued and served without a restart.
    clock.set(new Date());
    const next = await eventually(async () => (t.service.tls!.serialNumber !== firstServerSerial ? t.service.tls!.serialNumber : null), 20_000, 50, 'a new server certificate');
    const servedSerial = async () => {
      const pem = await new Promise<string>((resolve) => {
        const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'ca.test'], { stdio: ['pipe', 'pipe', 'ignore'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', () => resolve(out));
        child.stdin.end();
      });
      return new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----'))).serialNumber.toUpperCase();
    };
    await eventually(async () => (await servedSerial()) === next, 20_000, 100, 'the new server certificate served');
    expect(await entry(next)).toMatchObject({ account: 'mtls-ca', status: 'valid' });
    expect(await curl(['--cacert', caPem, `${base}/healthz`])).toMatchObject({ code: 0, status: 200 });
  });

  it('renews with curl --cert: a new serial and validity, the same key and subject, verified by openssl, linked in the ledger', async () => {
    clock.set(new Date());
    const old = await issue(t, t.admin, '/CN=erp-connector/OU=acme/C=BR');
    clock.advance(60_000);
    const issuedCount = async () => count((await t.http.get('/metrics')).text, 'mtlsca_certificates_issued_total', { account: 'acme' });
    const before = await issuedCount();
    const res = await renew(old, ['-H', 'Accept: application/json']);
    // Counted like a signing.
    expect(await issuedCount()).toBe(before + 1);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ renewedFrom: old.serialNumber, account: 'acme', commonName: 'erp-connector' });
    expect(body.serialNumber).not.toBe(old.serialNumber);
    const newPath = path.join(dir, `${body.serialNumber}.crt`);
    await fs.writeFile(newPath, body.certificate);
    expect((await opensslStatus(['verify', '-CAfile', caPem, newPath])).code).toBe(0);
    const [a, b] = [new X509Certificate(old.pem), new X509Certificate(body.certificate)];
    expect(b.subject).toBe(a.subject);
    expect(b.publicKey.export({ type: 'spki', format: 'der' })).toEqual(a.publicKey.export({ type: 'spki', format: 'der' }));
    expect(new Date(b.validFrom).getTime()).toBeGreaterThan(new Date(a.validFrom).getTime());
    expect(await entry(body.serialNumber)).toMatchObject({ renewedFrom: old.serialNumber, status: 'valid' });
    // The old one stays valid; the new one renews in turn (with its own key), under /api/edge too.
    expect(await entry(old.serialNumber)).toMatchObject({ status: 'valid', renewedFrom: null });
    const again = await renew({ certPath: newPath, keyPath: old.keyPath }, [], `${base}/api/edge/private-certificates/renew`);
    expect(again.status).toBe(200);
    expect(again.body).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // Audited like a signing.
    const audit = await t.http.get('/audit?action=certificate.renew&limit=5').set(t.admin);
    expect(audit.body.items.map((i: { serialNumber: string }) => i.serialNumber)).toContain(body.serialNumber);
  });

  it('rekeys with an openssl CSR of the same subject, and refuses one of another subject', async () => {
    clock.set(new Date());
    const old = await issue(t, t.admin, '/CN=rekey-app/OU=acme');
    const other = await makeCsr(dir, 'rekey-other', '/CN=someone-else/OU=acme');
    const refused = await renew(old, ['-H', 'Content-Type: text/plain', '--data-binary', `@${other.csrPath}`]);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).type).toMatch(/subject-not-allowed/);
    const fresh = await makeCsr(dir, 'rekey-new', '/CN=rekey-app/OU=acme');
    const res = await renew(old, ['-H', 'Content-Type: text/plain', '--data-binary', `@${fresh.csrPath}`]);
    expect(res.status).toBe(200);
    const cert = new X509Certificate(res.body);
    const { stdout: csrKey } = await openssl(['req', '-in', fresh.csrPath, '-pubkey', '-noout']);
    expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(csrKey);
    const newPath = path.join(dir, 'rekeyed.crt');
    await fs.writeFile(newPath, res.body);
    expect((await opensslStatus(['verify', '-CAfile', caPem, newPath])).code).toBe(0);
  });

  it('refuses no certificate (401), a foreign one (401), one of this CA that is not in the ledger (401)', async () => {
    clock.set(new Date());
    const none = await curl(['-X', 'POST', '--cacert', caPem, `${base}/private-certificates/renew`]);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).type).toMatch(/unauthorized/);

    // Another CA made with openssl, with a certificate of the same subject.
    const f = (n: string) => path.join(dir, n);
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('evil-ca.key'), '-out', f('evil-ca.pem'), '-subj', '/CN=Evil CA', '-days', '2']);
    const leaf = await makeCsr(dir, 'evil-leaf', '/CN=erp-connector/OU=acme/C=BR');
    await openssl(['x509', '-req', '-in', leaf.csrPath, '-CA', f('evil-ca.pem'), '-CAkey', f('evil-ca.key'), '-CAcreateserial', '-days', '2', '-out', f('evil-leaf.crt')]);
    const foreign = await renew({ certPath: f('evil-leaf.crt'), keyPath: leaf.keyPath });
    expect(foreign.status).toBe(401);
    expect(JSON.parse(foreign.body).detail).toMatch(/not issued by one of this CA's issuers/);

    // Signed by this CA's key but never recorded: refused (the ledger row is compared byte for byte).
    const unrecorded = await issueServerCertificate(t.service.ca, globalThis.crypto, clock, randomSerialSource, ['stray'], 3_600_000);
    await fs.writeFile(f('stray.crt'), unrecorded.record.pem);
    await fs.writeFile(f('stray.key'), unrecorded.keyPem);
    const stray = await renew({ certPath: f('stray.crt'), keyPath: f('stray.key') });
    expect(stray.status).toBe(401);
    expect(JSON.parse(stray.body).detail).toMatch(/not in this CA's ledger/);

    // Signed by this CA's key with the serial of a ledger row, but not that row's bytes: refused too.
    const real = await issue(t, t.admin, '/CN=twin-app/OU=acme');
    const twin = await issueServerCertificate(t.service.ca, globalThis.crypto, clock, { next: () => new Uint8Array(Buffer.from(real.serialNumber, 'hex')) }, ['twin-app'], 3_600_000);
    expect(twin.record.serialNumber).toBe(real.serialNumber);
    await fs.writeFile(f('twin.crt'), twin.record.pem);
    await fs.writeFile(f('twin.key'), twin.keyPem);
    const twinRes = await renew({ certPath: f('twin.crt'), keyPath: f('twin.key') });
    expect(twinRes.status).toBe(401);
    expect(JSON.parse(twinRes.body).detail).toMatch(/not in this CA's ledger/);
  });

  it('refuses a revoked certificate and one expired beyond RENEW_AFTER_EXPIRY (403); renews one inside it', async () => {
    clock.set(new Date());
    const revoked = await issue(t, t.admin, '/CN=revoked-app/OU=acme');
    expect((await t.http.delete(`/private-certificates/${revoked.serialNumber}`).set(t.admin)).status).toBe(200);
    const r = await renew(revoked);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).detail).toMatch(/revoked/);
    // The refusal is in the audit trail.
    await eventually(async () => {
      const failures = await t.http.get('/audit?action=certificate.renew&outcome=failure&limit=20').set(t.admin);
      return failures.body.items.some((i: { problem: string; requestId: string | null }) => i.problem === 'forbidden');
    }, 10_000, 50, 'the refused renewal audited');

    // Issued 400 days ago (365-day profile): expired 35 days ago, beyond the 30-day grace.
    const now = new Date();
    clock.set(new Date(now.getTime() - 400 * DAY));
    const expired = await issue(t, t.admin, '/CN=expired-app/OU=acme');
    clock.set(new Date(now.getTime() - 375 * DAY));
    const graced = await issue(t, t.admin, '/CN=graced-app/OU=acme');
    clock.set(now);
    const e = await renew(expired);
    expect(e.status).toBe(403);
    expect(JSON.parse(e.body).detail).toMatch(/expired/);
    // Expired ten days ago: inside RENEW_AFTER_EXPIRY (TLS itself lets the expired certificate through).
    const g = await renew(graced);
    expect(g.status).toBe(200);
  });

  it('answers 429 to a second renewal of the same certificate within RENEW_MIN_INTERVAL_SECONDS', async () => {
    clock.set(new Date());
    const old = await issue(t, t.admin, '/CN=hasty-app/OU=acme');
    expect((await renew(old)).status).toBe(200);
    const second = await renew(old, ['-D', '-']);
    expect(second.status).toBe(429);
    expect(second.body).toMatch(/retry-after: \d+/i);
  });

  it('revokeOld=superseded revokes the presented certificate with the renewal, and it is on the CRL', async () => {
    clock.set(new Date());
    const old = await issue(t, t.admin, '/CN=rotating-app/OU=acme');
    const bad = await renew(old, [], `${base}/private-certificates/renew?revokeOld=keyCompromise`);
    expect(bad.status).toBe(400);
    const res = await renew(old, ['-H', 'Accept: application/json'], `${base}/private-certificates/renew?revokeOld=superseded`);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(await entry(old.serialNumber)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    expect(await entry(body.serialNumber)).toMatchObject({ status: 'valid', renewedFrom: old.serialNumber });
    // The revoked one can renew no more.
    expect((await renew(old)).status).toBe(403);
    await eventually(async () => {
      const crl = await t.http.get('/crl').buffer(true).parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
      await fs.writeFile(path.join(dir, 'crl.der'), crl.body as Buffer);
      const { stdout } = await openssl(['crl', '-inform', 'DER', '-in', path.join(dir, 'crl.der'), '-noout', '-text']);
      return stdout.replace(/[:\s]/g, '').toUpperCase().includes(old.serialNumber);
    }, 20_000, 100, 'the old serial on the CRL');
  });

  it('takes the certificate from CLIENT_CERT_HEADER behind a trusted nginx, and ignores the header from anyone else', async () => {
    clock.set(new Date());
    const old = await issue(t, t.admin, '/CN=proxied-app/OU=acme');
    const httpPort = (http.address() as AddressInfo).port;
    // Untrusted: a client that writes the header itself, straight to the HTTP port.
    const spoofed = await t.http.post('/private-certificates/renew').set('X-Client-Cert', encodeURIComponent(old.pem));
    expect(spoofed.status).toBe(401);
    const direct = await curl(['-X', 'POST', '-H', `X-Client-Cert: ${encodeURIComponent(old.pem)}`, `http://127.0.0.1:${httpPort}/private-certificates/renew`]);
    expect(direct.status).toBe(401);

    // A real nginx terminating TLS, asking for any client certificate, passing it on from 127.0.0.2.
    const ngx = await startNginx(dir, httpPort);
    try {
      const viaProxy = await curl(['-X', 'POST', '--cert', old.certPath, '--key', old.keyPath, '-k', `https://127.0.0.1:${ngx.port}/private-certificates/renew`]);
      expect(viaProxy.status).toBe(200);
      const newPath = path.join(dir, 'proxied-new.crt');
      await fs.writeFile(newPath, viaProxy.body);
      expect((await opensslStatus(['verify', '-CAfile', caPem, newPath])).code).toBe(0);
      // Through nginx without a client certificate: the header is empty, so no certificate.
      const noCert = await curl(['-X', 'POST', '-k', `https://127.0.0.1:${ngx.port}/private-certificates/renew`]);
      expect(noCert.status).toBe(401);
      // A client cannot smuggle its own header through nginx: nginx replaces it.
      const other = await issue(t, t.admin, '/CN=other-app/OU=acme');
      const smuggled = await curl(['-X', 'POST', '-k', '-H', `X-Client-Cert: ${encodeURIComponent(other.pem)}`, `https://127.0.0.1:${ngx.port}/private-certificates/renew`]);
      expect(smuggled.status).toBe(401);
    } finally {
      await ngx.stop();
    }
  });
});

/** nginx terminating TLS on a free port (ssl_verify_client optional_no_ca), proxying to mtls-ca from 127.0.0.2. */
async function startNginx(dir: string, upstreamPort: number): Promise<{ port: number; stop(): Promise<void> }> {
  const prefix = await fs.mkdtemp(path.join(dir, 'nginx-'));
  await fs.mkdir(path.join(prefix, 'logs'));
  const key = path.join(prefix, 'server.key');
  const cert = path.join(prefix, 'server.crt');
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=proxy', '-days', '1']);
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  await fs.writeFile(
    conf,
    `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_verify_client optional_no_ca;
    location / {
      proxy_bind 127.0.0.2;
      proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
      proxy_pass http://127.0.0.1:${upstreamPort};
    }
  }
}
`,
  );
  const child: ChildProcess = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' });
  await eventually(async () => (await curl(['-k', `https://127.0.0.1:${port}/healthz`])).status === 200, 20_000, 100, 'nginx answering');
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
