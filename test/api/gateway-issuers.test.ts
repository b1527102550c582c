import { promises as fs } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway';
import { curl } from '../helpers/gateway-harness';
import { openssl } from '../helpers/openssl';
import { issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

/** The gateway in front of an upstream after a CA rotation: it trusts every issuer of /ca.pem and holds each one's CRL. */
describe('the mTLS gateway across a CA rotation', () => {
  let t: TestService;
  let ca: Server;
  let upstream: Server;
  let gateway: RunningGateway;
  let dir: string;

  beforeAll(async () => {
    t = await startTestService('pglite', { crl: { pollMs: 100, debounceMs: 20 } });
    dir = t.dataDir;
    ca = t.service.app.listen(0, '127.0.0.1');
    await new Promise((r) => ca.once('listening', r));
    upstream = http.createServer((req, res) => res.end(JSON.stringify({ account: req.headers['x-client-account'] })));
    upstream.listen(0, '127.0.0.1');
    await new Promise((r) => upstream.once('listening', r));
    const o = (args: string[]) => openssl(args, { cwd: dir });
    await o(['req', '-x509', '-new', '-nodes', '-subj', '/CN=gateway CA', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'gateway-ca.key', '-out', 'gateway-ca.pem', '-days', '2']);
    await o(['req', '-new', '-nodes', '-subj', '/CN=127.0.0.1', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'gateway.key', '-out', 'gateway.csr']);
    await fs.writeFile(path.join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await o(['x509', '-req', '-in', 'gateway.csr', '-CA', 'gateway-ca.pem', '-CAkey', 'gateway-ca.key', '-CAcreateserial', '-out', 'gateway.crt', '-days', '2', '-extfile', 'san.cnf']);
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    upstream.close();
    ca.close();
    await t.close();
  });

  it('admits certificates of the retired and the active issuer, and refuses each once revoked', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const before = await issue(t, tenant.headers, '/CN=before/OU=acme', 'g-before');
    // Step 1 of a rotation: the next issuer is published (pending) before the gateway loads the bundle.
    const id: string = (await t.http.post('/ca/issuers').set(t.admin).send({})).body.id;
    gateway = await startGateway(
      loadGatewayConfig({
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        GATEWAY_CA_URL: `http://127.0.0.1:${(ca.address() as AddressInfo).port}`,
        GATEWAY_TLS_CERT_FILE: path.join(dir, 'gateway.crt'),
        GATEWAY_TLS_KEY_FILE: path.join(dir, 'gateway.key'),
        GATEWAY_CRL_REFRESH_SECONDS: '1',
        GATEWAY_ALLOW_UNLISTED: 'true',
      }),
      pino({ level: process.env.MTLS_CA_TEST_LOG ?? 'silent' }),
    );
    expect((await t.http.post(`/ca/issuers/${id}/activate`).set(t.admin)).status).toBe(200);
    const after = await issue(t, tenant.headers, '/CN=after/OU=acme', 'g-after');
    const through = (c: { certPath: string; keyPath: string }) => curl(['--cert', c.certPath, '--key', c.keyPath, '--cacert', 'gateway-ca.pem', `${gateway.url}/hello`], dir);

    // The new issuer's CRL appears once it is active: the gateway admits its certificates when it holds it.
    const waitFor = async (c: { certPath: string; keyPath: string }, status: number) => {
      const until = Date.now() + 20_000;
      let res = await through(c);
      while (res.status !== status && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        res = await through(c);
      }
      return res;
    };
    expect((await waitFor(before, 200)).status).toBe(200);
    const admitted = await waitFor(after, 200);
    expect(admitted.status).toBe(200);
    expect(JSON.parse(admitted.body)).toEqual({ account: 'acme' });

    for (const c of [before, after]) expect((await t.http.delete(`/private-certificates/${c.serialNumber}`).set(tenant.headers)).status).toBe(200);
    for (const c of [before, after]) {
      const res = await waitFor(c, 401);
      expect(res.status).toBe(401);
      expect(res.body).toContain('CERT_REVOKED');
    }
  }, 120_000);
});
