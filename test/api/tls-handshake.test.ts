import { promises as fs } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { backends } from '../helpers/backends';
import { crlSerials, fetchCrl } from '../helpers/crl';
import { openssl } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

/** A relying party: a Node https server that requires a client certificate from our CA and checks our CRL. */
async function relyingServer(dir: string, caPem: string, crlPem: string): Promise<https.Server> {
  await openssl(['req', '-x509', '-new', '-nodes', '-subj', '/CN=localhost', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-keyout', 'server.key', '-out', 'server.crt', '-days', '1'], { cwd: dir });
  const server = https.createServer(
    {
      key: await fs.readFile(path.join(dir, 'server.key')),
      cert: await fs.readFile(path.join(dir, 'server.crt')),
      requestCert: true,
      rejectUnauthorized: true,
      ca: caPem,
      crl: crlPem,
    },
    (req, res) => {
      const cert = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.end(`hello ${cert.subject.CN}`);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function call(port: number, cert: string, key: string): Promise<{ ok: true; body: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', cert, key, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ ok: true, body }));
    });
    req.on('error', (e) => resolve({ ok: false, error: e.message }));
    req.end();
  });
}

describe.each(backends())('a real TLS handshake against the published CRL (%s)', (backend) => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(backend);
  });
  afterAll(() => t.close());

  it('accepts a valid client certificate and refuses a revoked one', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const valid = await issue(t, tenant.headers, '/CN=good-client/OU=acme');
    const revoked = await issue(t, tenant.headers, '/CN=bad-client/OU=acme');
    expect((await t.http.delete(`/private-certificates/${revoked.serialNumber}?reason=keyCompromise`).set(tenant.headers)).status).toBe(200);
    await eventually(async () => crlSerials((await fetchCrl(t)).crl).includes(revoked.serialNumber), 10_000, 25, 'the revoked serial on the CRL');

    const server = await relyingServer(t.dataDir, (await t.http.get('/ca.pem')).text, (await t.http.get('/crl.pem')).text);
    try {
      const port = (server.address() as AddressInfo).port;
      const ok = await call(port, valid.pem, await fs.readFile(valid.keyPath, 'utf8'));
      expect(ok).toEqual({ ok: true, body: 'hello good-client' });
      const refused = await call(port, revoked.pem, await fs.readFile(revoked.keyPath, 'utf8'));
      expect(refused.ok).toBe(false);
    } finally {
      server.close();
    }
  });
});
