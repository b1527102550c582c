import 'reflect-metadata';
import { promises as fs } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { openssl, tempDir } from '../helpers/openssl';
import { startTestService, type TestService } from '../helpers/test-service';

/**
 * Security review (05:10 UTC): /forward sends a `forward` key's requests only to its account's outbound
 * routes (no route: 403), but POST /pkcs12/test with `target` connects to any host and port the egress
 * policy allows (EGRESS_ALLOWED_NETWORKS: often internal networks, for the routes' partners) and sends
 * `GET <any path and query>` there, reporting the status. A forward-only key so reaches internal HTTPS
 * services no route names, outside the per-key forward rate limit and without an audit record.
 *
 * Fixed: the tester's target is admitted as /forward admits a request (Forwarder.admit: the per-key
 * forward rate and a matching outbound route of the key's account).
 */
describe('POST /pkcs12/test target: kept to what /forward may reach (review finding)', () => {
  let t: TestService;
  let dir: string;
  let server: https.Server;
  let internalUrl: string;
  let forwarder: { headers: Record<string, string> };
  const seen: string[] = [];
  const p = (n: string) => path.join(dir, n);

  beforeAll(async () => {
    dir = await tempDir('p12scope-');
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=internal', '-days', '2',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', p('server.key'), '-out', p('server.pem')]);
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=client/OU=acme', '-days', '2',
      '-keyout', p('client.key'), '-out', p('client.pem')]);
    await openssl(['pkcs12', '-export', '-inkey', p('client.key'), '-in', p('client.pem'), '-passout', 'pass:scope-pw', '-out', p('client.p12')]);
    // A key Node will not load into a TLS context (OpenSSL security level: "ee key too small").
    await openssl(['req', '-x509', '-newkey', 'rsa:512', '-nodes', '-subj', '/CN=weak/OU=acme', '-days', '2', '-keyout', p('weak.key'), '-out', p('weak.pem')]);
    await openssl(['pkcs12', '-export', '-inkey', p('weak.key'), '-in', p('weak.pem'), '-passout', 'pass:scope-pw', '-out', p('weak.p12')]);
    // An internal HTTPS service that no outbound route of the account names.
    server = https.createServer({ key: await fs.readFile(p('server.key')), cert: await fs.readFile(p('server.pem')) }, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('done');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    internalUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/internal/admin?action=purge`;
    t = await startTestService('pglite', { env: { MTLS_CA_MASTER_KEY: 'p12scope-master-key-0123456789abcdef0123', EGRESS_ALLOWED_NETWORKS: '127.0.0.1/32' } });
    forwarder = await t.createKey('acme', ['forward']);
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    await new Promise((r) => server?.close(r));
  });

  it('/forward refuses the internal target: no outbound route of the account names it', async () => {
    const res = await t.http.get('/forward').set(forwarder.headers).set('X-Forward-Url', internalUrl);
    expect(res.status).toBe(403);
    expect(seen).toEqual([]);
  });

  /** The PKCS#12 tester, asked to try `file` against the internal target. */
  const testAgainstInternal = async (file: string) =>
    t.http
      .post('/pkcs12/test')
      .set(forwarder.headers)
      .attach('file', p(file), file)
      .field('password', 'scope-pw')
      .field('target', internalUrl)
      .field('serverCa', await fs.readFile(p('server.pem'), 'utf8'));

  it('the tester refuses it too, and sends nothing there', async () => {
    const res = await testAgainstInternal('client.p12');
    expect(seen).toEqual([]);
    expect(res.status).toBe(403);
  });

  it('answers for a file whose key Node refuses in TLS (512-bit RSA) with a target no route names, and the service lives on', async () => {
    const res = await testAgainstInternal('weak.p12');
    // The target is no route of the account: 403 before any connection (the connector's handling of such
    // a key is tested in test/unit/outbound-connector-client-key.test.ts).
    expect(res.status).toBe(403);
    expect((await t.http.get('/healthz')).status).toBe(200);
  });
});
