import { promises as fs } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway';
import { curl } from '../helpers/gateway-harness';
import { openssl } from '../helpers/openssl';
import { startTestService, type TestService } from '../helpers/test-service';

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Partners' own PKI through a real gateway, with curl and openssl-made partner CAs and certificates. */
describe("partners' own PKI at the gateway (pglite)", () => {
  let t: TestService;
  let ca: Server;
  let upstream: Server;
  let gateway: RunningGateway;
  let dir: string;
  const seen: http.IncomingHttpHeaders[] = [];
  const o = (args: string[]) => openssl(args, { cwd: dir });
  const pem = (name: string) => fs.readFile(path.join(dir, name), 'utf8');

  beforeAll(async () => {
    t = await startTestService('pglite', { crl: { pollMs: 100, debounceMs: 20 } });
    dir = t.dataDir;
    ca = t.service.app.listen(0, '127.0.0.1');
    await new Promise((r) => ca.once('listening', r));
    upstream = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end(JSON.stringify({ account: req.headers['x-client-account'] }));
    });
    upstream.listen(0, '127.0.0.1');
    await new Promise((r) => upstream.once('listening', r));
    await o(['req', '-x509', ...EC, '-subj', '/CN=gateway CA', '-keyout', 'gateway-ca.key', '-out', 'gateway-ca.pem', '-days', '2']);
    await o(['req', '-new', ...EC, '-subj', '/CN=127.0.0.1', '-keyout', 'gateway.key', '-out', 'gateway.csr']);
    await fs.writeFile(path.join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await o(['x509', '-req', '-in', 'gateway.csr', '-CA', 'gateway-ca.pem', '-CAkey', 'gateway-ca.key', '-CAcreateserial', '-out', 'gateway.crt', '-days', '2', '-extfile', 'san.cnf']);
    // The partner's own CA and a client it issued, whose OU names another account.
    await o(['req', '-x509', ...EC, '-subj', '/CN=Digibee Root CA', '-keyout', 'partner-ca.key', '-out', 'partner-ca.pem', '-days', '5', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await o(['req', '-new', ...EC, '-subj', '/CN=digibee-worker/OU=globex', '-keyout', 'partner-client.key', '-out', 'partner-client.csr']);
    await fs.writeFile(path.join(dir, 'client.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
    await o(['x509', '-req', '-in', 'partner-client.csr', '-CA', 'partner-ca.pem', '-CAkey', 'partner-ca.key', '-CAcreateserial', '-out', 'partner-client.crt', '-days', '2', '-extfile', 'client.ext']);
    // Self-signed client certificates of a partner without a CA.
    for (const n of ['self1', 'self2']) {
      await o(['req', '-x509', ...EC, '-subj', '/CN=nuapay-client/OU=globex', '-keyout', `${n}.key`, '-out', `${n}.crt`, '-days', '2', '-addext', 'basicConstraints=critical,CA:FALSE']);
    }

    const gatewayKey = await t.createKey('gateway', ['role:gateway']);
    const config = loadGatewayConfig({
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      GATEWAY_CA_URL: `http://127.0.0.1:${(ca.address() as AddressInfo).port}`,
      GATEWAY_TLS_CERT_FILE: path.join(dir, 'gateway.crt'),
      GATEWAY_TLS_KEY_FILE: path.join(dir, 'gateway.key'),
      GATEWAY_CRL_REFRESH_SECONDS: '1',
      GATEWAY_ALLOW: '/globex/=globex,/digibee/=digibee,/nuapay/=nuapay',
      GATEWAY_ALLOW_UNLISTED: 'true',
      GATEWAY_APP_KEY: gatewayKey.appKey,
      GATEWAY_APP_TOKEN: gatewayKey.appToken,
      // The partner CRL server of the revocation test listens on 127.0.0.1; 127.0.0.2 stays refused.
      GATEWAY_PARTNER_CRL_ALLOWED_NETWORKS: '127.0.0.1/32',
    });
    gateway = await startGateway(config, pino({ level: process.env.MTLS_CA_TEST_LOG ?? 'silent' }));
  }, 120_000);
  afterAll(async () => {
    await gateway.stop();
    upstream.close();
    ca.close();
    await t.close();
  });

  const through = (cert: string, key: string, pathname = '/hello') => curl(['--cert', cert, '--key', key, '--cacert', 'gateway-ca.pem', `${gateway.url}${pathname}`], dir);

  it("admits a partner CA's client for the anchor's account only, never the OU's; refused after the anchor is deleted", async () => {
    expect((await through('partner-client.crt', 'partner-client.key')).status).toBe(401);
    const anchor = await t.http.post('/trust-anchors').set(t.admin).send({ account: 'digibee', certificate: await pem('partner-ca.pem') });
    expect(anchor.status).toBe(201);
    await waitFor('the anchor to reach the gateway', async () => (await through('partner-client.crt', 'partner-client.key')).status === 200);
    const res = await through('partner-client.crt', 'partner-client.key');
    expect(JSON.parse(res.body)).toEqual({ account: 'digibee' });
    expect(seen[seen.length - 1]['x-client-account']).toBe('digibee');
    expect(seen[seen.length - 1]['x-client-trust']).toBe('partner-ca');
    expect((await through('partner-client.crt', 'partner-client.key', '/digibee/x')).status).toBe(200);
    expect((await through('partner-client.crt', 'partner-client.key', '/globex/x')).status).toBe(403);
    expect((await t.http.delete(`/trust-anchors/${anchor.body.id}`).set(t.admin)).status).toBe(200);
    await waitFor('the deletion to reach the gateway', async () => (await through('partner-client.crt', 'partner-client.key')).status === 401);
  }, 120_000);

  it("refuses a certificate the partner CA revoked on its own CRL", async () => {
    const crlServer = http.createServer(async (_req, res) => res.end(await fs.readFile(path.join(dir, 'crlca', 'crl.pem'))));
    crlServer.listen(0, '127.0.0.1');
    await new Promise((r) => crlServer.once('listening', r));
    try {
      const crlUrl = `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}/partner.crl`;
      const cd = path.join(dir, 'crlca');
      await fs.mkdir(cd, { recursive: true });
      await fs.writeFile(path.join(cd, 'index.txt'), '');
      await fs.writeFile(path.join(cd, 'crlnumber'), '01\n');
      await fs.writeFile(path.join(cd, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${cd}/index.txt\ncrlnumber=${cd}/crlnumber\ndefault_md=sha256\ndefault_crl_days=2\n`);
      await fs.writeFile(path.join(dir, 'crl-client.ext'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\ncrlDistributionPoints=URI:${crlUrl}\n`);
      for (const n of ['kept', 'revoked']) {
        await o(['req', '-new', ...EC, '-subj', `/CN=${n}`, '-keyout', `${n}.key`, '-out', `${n}.csr`]);
        await o(['x509', '-req', '-in', `${n}.csr`, '-CA', 'partner-ca.pem', '-CAkey', 'partner-ca.key', '-CAcreateserial', '-out', `${n}.crt`, '-days', '2', '-extfile', 'crl-client.ext']);
      }
      await o(['ca', '-config', path.join(cd, 'ca.cnf'), '-revoke', 'revoked.crt', '-keyfile', 'partner-ca.key', '-cert', 'partner-ca.pem']);
      await o(['ca', '-config', path.join(cd, 'ca.cnf'), '-gencrl', '-keyfile', 'partner-ca.key', '-cert', 'partner-ca.pem', '-out', path.join(cd, 'crl.pem')]);
      const anchor = await t.http.post('/trust-anchors').set(t.admin).send({ account: 'digibee', certificate: await pem('partner-ca.pem') });
      expect(anchor.status).toBe(201);
      await waitFor('the kept certificate to be admitted', async () => (await through('kept.crt', 'kept.key')).status === 200);
      const revoked = await through('revoked.crt', 'revoked.key');
      expect(revoked.status).toBe(401);
      expect(revoked.body).toContain('CERT_REVOKED');
      await t.http.delete(`/trust-anchors/${anchor.body.id}`).set(t.admin).expect(200);
    } finally {
      crlServer.close();
    }
  }, 120_000);

  it("does not fetch a partner CRL from an address outside GATEWAY_PARTNER_CRL_ALLOWED_NETWORKS (no SSRF through a partner's certificate): fails closed", async () => {
    let hits = 0;
    const internal = http.createServer((_req, res) => { hits++; res.end('secret'); });
    internal.listen(0, '127.0.0.2');
    await new Promise((r) => internal.once('listening', r));
    try {
      const url = `http://127.0.0.2:${(internal.address() as AddressInfo).port}/latest/meta-data`;
      await fs.writeFile(path.join(dir, 'ssrf-client.ext'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\ncrlDistributionPoints=URI:${url}\n`);
      await o(['req', '-new', ...EC, '-subj', '/CN=ssrf', '-keyout', 'ssrf.key', '-out', 'ssrf.csr']);
      await o(['x509', '-req', '-in', 'ssrf.csr', '-CA', 'partner-ca.pem', '-CAkey', 'partner-ca.key', '-CAcreateserial', '-out', 'ssrf.crt', '-days', '2', '-extfile', 'ssrf-client.ext']);
      const anchor = await t.http.post('/trust-anchors').set(t.admin).send({ account: 'digibee', certificate: await pem('partner-ca.pem') });
      expect(anchor.status).toBe(201);
      try {
        await waitFor('the anchor to reach the gateway', async () => (await through('partner-client.crt', 'partner-client.key')).status === 200);
        // The CRL cannot be fetched (prohibited address), so the status stays unknown: refused, every time.
        for (let i = 0; i < 3; i++) {
          const res = await through('ssrf.crt', 'ssrf.key');
          expect(res.status).toBe(503);
          expect(res.body).toContain('revocation');
          await new Promise((r) => setTimeout(r, 300));
        }
        expect(hits).toBe(0);
      } finally {
        await t.http.delete(`/trust-anchors/${anchor.body.id}`).set(t.admin).expect(200);
      }
    } finally {
      internal.close();
    }
  }, 120_000);

  it('admits a registered self-signed certificate and rotates to a second one', async () => {
    const first = await t.http.post('/client-certificates').set(t.admin).send({ account: 'nuapay', certificate: await pem('self1.crt') });
    expect(first.status).toBe(201);
    await waitFor('the registration to reach the gateway', async () => (await through('self1.crt', 'self1.key')).status === 200);
    expect(JSON.parse((await through('self1.crt', 'self1.key', '/nuapay/a')).body)).toEqual({ account: 'nuapay' });
    expect(seen[seen.length - 1]['x-client-trust']).toBe('registered');
    expect((await through('self2.crt', 'self2.key')).status).toBe(401);
    expect((await t.http.post('/client-certificates').set(t.admin).send({ account: 'nuapay', certificate: await pem('self2.crt') })).status).toBe(201);
    await waitFor('the second registration', async () => (await through('self2.crt', 'self2.key')).status === 200);
    expect((await t.http.delete(`/client-certificates/${first.body.id}`).set(t.admin)).status).toBe(200);
    await waitFor('the first one to be refused', async () => (await through('self1.crt', 'self1.key')).status === 401);
    expect((await through('self2.crt', 'self2.key')).status).toBe(200);
  }, 120_000);
});
