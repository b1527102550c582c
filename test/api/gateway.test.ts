import { promises as fs } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway';
import { backends } from '../helpers/backends';
import { curl } from '../helpers/gateway-harness';
import { makeCsr, openssl } from '../helpers/openssl';
import { issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('the mTLS gateway, end to end with curl (%s)', (backend) => {
  let t: TestService;
  let ca: Server;
  let upstream: Server;
  let gateway: RunningGateway;
  let dir: string;
  const seen: http.IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    t = await startTestService(backend, { crl: { pollMs: 100, debounceMs: 20 } });
    dir = t.dataDir;
    ca = t.service.app.listen(0, '127.0.0.1');
    await new Promise((r) => ca.once('listening', r));
    upstream = http.createServer((req, res) => {
      if (req.url?.startsWith('/hang')) return; // an upstream that never answers
      seen.push(req.headers);
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => res.end(JSON.stringify({ path: req.url, method: req.method, body, account: req.headers['x-client-account'] })));
    });
    upstream.listen(0, '127.0.0.1');
    await new Promise((r) => upstream.once('listening', r));
    // The gateway's own server certificate, from a separate "gateway CA" the clients trust.
    const o = (args: string[]) => openssl(args, { cwd: dir });
    await o(['req', '-x509', '-new', '-nodes', '-subj', '/CN=gateway CA', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'gateway-ca.key', '-out', 'gateway-ca.pem', '-days', '2']);
    await o(['req', '-new', '-nodes', '-subj', '/CN=127.0.0.1', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'gateway.key', '-out', 'gateway.csr']);
    await fs.writeFile(path.join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await o(['x509', '-req', '-in', 'gateway.csr', '-CA', 'gateway-ca.pem', '-CAkey', 'gateway-ca.key', '-CAcreateserial', '-out', 'gateway.crt', '-days', '2', '-extfile', 'san.cnf']);
    // Another CA's client certificate, which must not get through.
    await o(['req', '-x509', '-new', '-nodes', '-subj', '/CN=intruder/OU=acme', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'intruder.key', '-out', 'intruder.crt', '-days', '2']);

    const config = loadGatewayConfig({
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      GATEWAY_CA_URL: `http://127.0.0.1:${(ca.address() as AddressInfo).port}`,
      GATEWAY_TLS_CERT_FILE: path.join(dir, 'gateway.crt'),
      GATEWAY_TLS_KEY_FILE: path.join(dir, 'gateway.key'),
      GATEWAY_CRL_REFRESH_SECONDS: '1',
      GATEWAY_ALLOW: '/globex/=globex',
      GATEWAY_ALLOW_UNLISTED: 'true',
      GATEWAY_UPSTREAM_TIMEOUT_MS: '1000',
      GATEWAY_MAX_HEADER_BYTES: '8192',
    });
    gateway = await startGateway(config, pino({ level: process.env.MTLS_CA_TEST_LOG ?? 'silent' }));
  }, 120_000);
  afterAll(async () => {
    await gateway.stop();
    upstream.close();
    ca.close();
    await t.close();
  });

  const through = (cert: string | null, key: string | null, pathname = '/hello', extra: string[] = []) =>
    curl([...(cert ? ['--cert', cert, '--key', key!] : []), '--cacert', 'gateway-ca.pem', ...extra, `${gateway.url}${pathname}`], dir);

  it('lets a certificate signed by mtls-ca through with identity headers, replacing spoofed ones, and streams bodies', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers, '/CN=erp-connector/OU=acme/C=BR');
    const res = await through(c.certPath, c.keyPath, '/hello?x=1', ['-H', 'X-Client-Account: globex', '-X', 'POST', '--data-binary', 'payload']);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ path: '/hello?x=1', method: 'POST', body: 'payload', account: 'acme' });
    const headers = seen[seen.length - 1];
    expect(headers['x-client-cert-serial']).toBe(c.serialNumber);
    expect(headers['x-client-cert-subject']).toBe('CN=erp-connector,OU=acme,C=BR');
    expect(headers['x-client-cert-fingerprint']).toMatch(/^[0-9a-f]{64}$/);
    expect(headers['x-client-trust']).toBe('ca');
  });

  it('refuses the same certificate within the refresh interval after it is revoked, without reaching the upstream', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    expect((await through(c.certPath, c.keyPath)).status).toBe(200);
    expect((await t.http.delete(`/private-certificates/${c.serialNumber}`).set(tenant.headers)).status).toBe(200);
    // Within GATEWAY_CRL_REFRESH_SECONDS (1 s) plus the CA's CRL rebuild; the bound is generous for a busy machine.
    const until = Date.now() + 15_000;
    let res = await through(c.certPath, c.keyPath);
    while (res.status === 200 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      res = await through(c.certPath, c.keyPath);
    }
    expect(res.status).toBe(401);
    expect(res.body).toContain('CERT_REVOKED');
    const after = seen.length;
    await through(c.certPath, c.keyPath);
    expect(seen.length).toBe(after);
  });

  it('passes on a certificate the CA issued with O=Łódź Sp, €, CJK and emoji in an escaped X-Client-Cert-Subject, and stays up', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const { csr, keyPath } = await makeCsr(dir, 'utf8-subject', '/CN=erp-connector/OU=acme/O=Łódź Sp. € 株式会社 😀/C=PL', ['-utf8', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const signed = await t.http.post('/private-certificates/sign').set(tenant.headers).set('Content-Type', 'text/plain').set('Accept', 'application/json').send(csr);
    expect(signed.status).toBe(200);
    const certPath = keyPath.replace(/\.key$/, '.crt');
    await fs.writeFile(certPath, signed.body.certificate);
    const res = await through(certPath, keyPath, '/hello');
    expect(res.status).toBe(200);
    expect(seen[seen.length - 1]['x-client-cert-subject']).toBe(
      // The CA re-encodes the subject most general first (C, O, OU, CN), so RFC 4514 prints CN first.
      'CN=erp-connector,OU=acme,O=\\C5\\81\\C3\\B3d\\C5\\BA Sp. \\E2\\82\\AC \\E6\\A0\\AA\\E5\\BC\\8F\\E4\\BC\\9A\\E7\\A4\\BE \\F0\\9F\\98\\80,C=PL',
    );
    const again = await issue(t, tenant.headers);
    expect((await through(again.certPath, again.keyPath)).status).toBe(200);
  });

  it('refuses a request without a certificate and a certificate from another CA (401)', async () => {
    const before = seen.length;
    const none = await through(null, null);
    expect(none.status).toBe(401);
    expect(none.body).toContain('client certificate');
    const intruder = await through('intruder.crt', 'intruder.key');
    expect(intruder.status).toBe(401);
    expect(seen.length).toBe(before);
  });

  it('enforces the account allow-list per path prefix (403)', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const res = await through(c.certPath, c.keyPath, '/globex/orders');
    expect(res.status).toBe(403);
    expect(res.body).toContain('account acme may not use /globex/');
  });

  it('answers 504 when the upstream does not answer in time, and 431 to oversized headers, as problems', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const hung = await through(c.certPath, c.keyPath, '/hang');
    expect(hung.status).toBe(504);
    expect(JSON.parse(hung.body).type).toBe('urn:mtls-ca:problem:upstream-timeout');
    const big = await through(c.certPath, c.keyPath, '/hello', ['-H', `X-Big: ${'b'.repeat(9000)}`]);
    expect(big.status).toBe(431);
    expect(JSON.parse(big.body).type).toBe('urn:mtls-ca:problem:header-fields-too-large');
  });

  it('keeps using its last CRL while the CA is unreachable', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    ca.close();
    ca.closeAllConnections();
    await gateway.cache.refresh(); // a refresh that fails now, rather than within the next second
    expect((await through(c.certPath, c.keyPath)).status).toBe(200);
    // Past the CRL's nextUpdate: test/api/gateway-trust.test.ts, with a CRL valid for seconds.
  });
});
