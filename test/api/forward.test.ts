import { promises as fs } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { startEgress } from '../../src/egress/egress-proxy';
import { backends } from '../helpers/backends';
import { curl } from '../helpers/gateway-harness';
import { freePort, startNginx, type RunningNginx } from '../helpers/nginx';
import { openssl, tempDir } from '../helpers/openssl';
import { makeCa, signCsr, type OpensslCa } from '../helpers/partner-ca';
import { startTestService, type TestService } from '../helpers/test-service';

async function signWith(dir: string, ca: { crt: string; key: string }, name: string, subject: string, ext: string): Promise<{ crt: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const crt = path.join(dir, `${name}.crt`);
  const extFile = path.join(dir, `${name}.ext`);
  await fs.writeFile(extFile, ext);
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', subject, '-out', csr]);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', extFile, '-out', crt]);
  return { crt, key };
}

describe.each(backends())('outbound routes, /forward and the egress proxy against nginx requiring client certificates (%s)', (backend) => {
  let t: TestService;
  let dir: string;
  let nginx: RunningNginx;
  let echo: https.Server;
  let echoPort: number;
  let portA: number;
  let portB: number;
  let serverCa: { pem: string };
  let wrongCa: { pem: string };
  let partnerCa: OpensslCa;
  let idA: string;
  let idB: string;
  let tenant: { appKey: string; appToken: string; headers: Record<string, string> };
  let other: { appKey: string; appToken: string; headers: Record<string, string> };
  const resolver = async (host: string) => {
    const table: Record<string, string> = { 'partner-a.test': '127.0.0.1', 'partner-b.test': '127.0.0.1', 'internal.test': '10.0.0.5', 'metadata.test': '169.254.169.254' };
    if (!table[host]) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return [{ address: table[host], family: 4 }];
  };

  beforeAll(async () => {
    dir = await tempDir('forward-');
    t = await startTestService(backend, { env: { MTLS_CA_MASTER_KEY: 'forward-test-master-key-0123456789abcdef', EGRESS_ALLOWED_NETWORKS: '127.0.0.1/32', FORWARD_TIMEOUT_MS: '3000', FORWARD_MAX_BODY_BYTES: '100000', FORWARD_MAX_CONCURRENT_PER_ACCOUNT: '2' }, resolver });
    tenant = await t.createKey('acme', ['role:tenant', 'identities:manage', 'forward']);
    other = await t.createKey('globex', ['role:tenant', 'identities:manage', 'forward']);

    // The partners' servers: one server CA for both; A trusts this service's CA, B a separate partner CA.
    const server = await makeCa(dir, 'server-ca');
    serverCa = server;
    wrongCa = await makeCa(dir, 'wrong-ca');
    partnerCa = await makeCa(dir, 'partner-ca');
    const srv = await signWith(dir, server, 'nginx', '/CN=partners', 'subjectAltName=DNS:partner-a.test,DNS:partner-b.test,IP:127.0.0.1,IP:127.0.0.2\nextendedKeyUsage=serverAuth\n');
    const ourCa = path.join(dir, 'our-ca.pem');
    await fs.writeFile(ourCa, (await t.http.get('/ca.pem')).text);

    // Identity A: issued here by POST /identities (key generated and wrapped by the service). Identity B:
    // for the partner's CA — the service answers a CSR for a key it keeps, the partner's CA (openssl) signs
    // it, and the certificate comes back through PUT /identities/{id}/certificate.
    const created = await t.http.post('/identities').set(tenant.headers).send({ name: 'erp', account: 'acme', issue: { commonName: 'erp-connector' } });
    expect(created.status).toBe(201);
    idA = created.body.id;
    const pending = await t.http.post('/identities').set(tenant.headers).send({ name: 'partner-b', account: 'acme', csr: { subject: { commonName: 'acme-at-partner-b' } } });
    expect(pending.status).toBe(201);
    idB = pending.body.id;
    const signed = await signCsr(dir, partnerCa, pending.body.csr);
    const put = await t.http.put(`/identities/${idB}/certificate`).set(tenant.headers).set('Content-Type', 'application/x-pem-file').send(signed);
    expect(put.status).toBe(200);
    expect(put.body.state).toBe('active');

    portA = await freePort();
    portB = await freePort();
    const block = (port: number, clientCa: string) => `
  server {
    listen 127.0.0.1:${port} ssl; listen 127.0.0.2:${port} ssl;
    ssl_certificate ${srv.crt}; ssl_certificate_key ${srv.key};
    ssl_client_certificate ${clientCa}; ssl_verify_client on; ssl_verify_depth 3;
    location = /redirect { return 302 https://elsewhere.example/landing; }
    location / { return 200 "dn=$ssl_client_s_dn verify=$ssl_client_verify auth=$http_authorization appkey=$http_x_api_appkey uri=$request_uri method=$request_method serial=$ssl_client_serial\\n"; }
  }`;
    nginx = await startNginx(path.join(dir, 'nginx'), block(portA, ourCa) + block(portB, partnerCa.crt), [portA, portB]);

    // A Node partner that echoes what arrives (body, headers) and one path that never answers.
    echo = https.createServer({ key: await fs.readFile(srv.key), cert: await fs.readFile(srv.crt), ca: await fs.readFile(ourCa), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      if (req.url === '/slow') return; // never answers
      if (req.url === '/drip') {
        // answers at once, then streams for longer than FORWARD_TIMEOUT_MS (3 s) in small steps
        res.writeHead(200, { 'content-type': 'text/plain' });
        let n = 0;
        const tick = setInterval(() => {
          res.write(`chunk ${n}\n`);
          if (++n === 9) {
            clearInterval(tick);
            res.end('done\n');
          }
        }, 450);
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.writeHead(201, { 'content-type': 'application/json', 'x-partner': 'yes' }).end(JSON.stringify({ headers: req.headers, body: Buffer.concat(chunks).toString() })));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as AddressInfo).port;
    const route = (body: object, headers = tenant.headers) => t.http.post('/outbound-routes').set(headers).send(body);
    for (const body of [
      { match: { host: 'partner-a.test', port: portA }, identity: idA, serverCa: serverCa.pem },
      { match: { host: 'Partner-B.test.', port: portB, pathPrefix: '/api/' }, identity: idB, serverCa: serverCa.pem },
      { match: { host: 'partner-a.test', port: portA, pathPrefix: '/pinned-elsewhere' }, identity: idA, serverCa: wrongCa.pem },
      { match: { host: '127.0.0.2', port: portA }, identity: idA, serverCa: serverCa.pem },
      { match: { host: '169.254.169.254', port: 443 }, identity: idA },
      { match: { host: 'internal.test', port: portA }, identity: idA },
      { match: { host: 'metadata.test' }, identity: idA },
      { match: { host: 'partner-a.test', port: echoPort }, identity: idA, serverCa: serverCa.pem },
    ]) {
      const res = await route(body);
      expect(res.status).toBe(201);
    }
  }, 180_000);

  afterAll(async () => {
    await nginx?.stop();
    echo?.closeAllConnections();
    await new Promise((r) => (echo ? echo.close(r) : r(undefined)));
    await t?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const forward = (url: string, headers = tenant.headers) => t.http.get('/forward').set(headers).set('X-Forward-Url', url);

  it('reaches nginx A with the identity issued here and nginx B with the one signed by the partner CA', async () => {
    const a = await forward(`https://partner-a.test:${portA}/orders/1?x=1`).set('X-Forward-Authorization', 'Bearer partner-token');
    expect(a.status).toBe(200);
    expect(a.text).toContain('CN=erp-connector');
    expect(a.text).toContain('verify=SUCCESS');
    expect(a.text).toContain('auth=Bearer partner-token');
    expect(a.text).toContain('appkey= '); // our credentials never reach the partner
    expect(a.text).toContain('uri=/orders/1?x=1');
    const b = await forward(`https://PARTNER-B.test.:${portB}/api/v1/./items`);
    expect(b.status).toBe(200);
    expect(b.text).toContain('CN=acme-at-partner-b');
    expect(b.text).toContain('uri=/api/v1/items');
  });

  it('streams a POST body and headers through, minus hop-by-hop and our credentials, and returns the answer as is', async () => {
    const res = await t.http
      .post('/forward')
      .set(tenant.headers)
      .set('X-Forward-Url', `https://partner-a.test:${echoPort}/events`)
      .set('Content-Type', 'application/json')
      .set('Connection', 'keep-alive, x-drop-me')
      .set('X-Drop-Me', 'hop')
      .set('X-Trace', 'abc')
      .set('Authorization', 'Basic not-for-the-partner')
      .send({ hello: 'partner' });
    expect(res.status).toBe(201);
    expect(res.headers['x-partner']).toBe('yes');
    expect(res.body.body).toBe('{"hello":"partner"}');
    const h = res.body.headers;
    expect(h['x-trace']).toBe('abc');
    expect(h['content-type']).toBe('application/json');
    expect(h['host']).toBe(`partner-a.test:${echoPort}`);
    for (const gone of ['x-drop-me', 'x-api-appkey', 'x-api-apptoken', 'x-forward-url', 'authorization']) expect(h[gone]).toBeUndefined();
  });

  it('answers 504 when the partner does not answer in time, and 413 for a body over the limit', async () => {
    const slow = await forward(`https://partner-a.test:${echoPort}/slow`);
    expect(slow.status).toBe(504);
    expect(slow.headers['proxy-status']).toMatch(/error=http_response_timeout/);
    const big = await t.http.post('/forward').set(tenant.headers).set('X-Forward-Url', `https://partner-a.test:${echoPort}/big`).send('x'.repeat(200_000));
    expect(big.status).toBe(413);
  });

  it('limits the requests in flight per account (429), and frees the slots once answered', async () => {
    // Both slow ones hold a slot until FORWARD_TIMEOUT_MS (3 s); a third request of the account is refused
    // meanwhile. On a starved machine the window can pass before a third request gets in: try again then.
    let third: Awaited<ReturnType<typeof forward>> | undefined;
    let slowStatuses: number[] = [];
    for (let attempt = 0; attempt < 5 && third?.status !== 429; attempt++) {
      let settled = false;
      // (Promise.all starts supertest's lazy requests now)
      const slow = Promise.all([forward(`https://partner-a.test:${echoPort}/slow`), forward(`https://partner-a.test:${echoPort}/slow`)]).finally(() => {
        settled = true;
      });
      while (!settled) {
        third = await forward(`https://partner-a.test:${portA}/third`);
        if (third.status === 429) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      if (third?.status === 429) {
        expect(third.headers['retry-after']).toBeDefined();
        // another account is not affected
        expect((await forward(`https://partner-a.test:${portA}/`, other.headers)).status).toBe(403);
      }
      slowStatuses = (await slow).map((r) => r.status);
    }
    expect(third!.status).toBe(429);
    expect(slowStatuses).toEqual([504, 504]);
    expect((await forward(`https://partner-a.test:${portA}/after`)).status).toBe(200);
  });

  it('does not cut a streamed answer that lasts longer than FORWARD_TIMEOUT_MS', async () => {
    const res = await forward(`https://partner-a.test:${echoPort}/drip`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('chunk 8\ndone\n');
  });

  it('passes the method through and returns a redirect as is (not followed)', async () => {
    const del = await t.http.delete('/forward').set(tenant.headers).set('X-Forward-Url', `https://partner-a.test:${portA}/things/9`);
    expect(del.text).toContain('method=DELETE');
    const r = await forward(`https://partner-a.test:${portA}/redirect`);
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('https://elsewhere.example/landing');
  });

  it.each([
    ['an unmapped host', () => `https://unmapped.test:${portA}/`, 403, 'destination_not_found'],
    ['a path outside the route prefix (whole segments)', () => `https://partner-b.test:${portB}/apix`, 403, 'destination_not_found'],
    ['a mapped host on another port', () => `https://partner-a.test:${portA + 1}/`, 403, 'destination_not_found'],
    ['a loopback address EGRESS_ALLOWED_NETWORKS does not list', () => `https://127.0.0.2:${portA}/`, 403, 'destination_ip_prohibited'],
    ['cloud metadata', () => 'https://169.254.169.254/latest/meta-data/', 403, 'destination_ip_prohibited'],
    ['a host name resolving to a private address', () => `https://internal.test:${portA}/`, 403, 'destination_ip_prohibited'],
    ['a host name resolving to the metadata address', () => 'https://metadata.test/', 403, 'destination_ip_prohibited'],
    ['a server certificate not signed by the pinned serverCa', () => `https://partner-a.test:${portA}/pinned-elsewhere/x`, 502, 'tls_certificate_error'],
  ])('refuses %s', async (_label, url, status, proxyError) => {
    const res = await forward(url());
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['proxy-status']).toMatch(new RegExp(`^mtls-ca; error=${proxyError}`));
  });

  it('refuses plain http targets, a missing X-Forward-Url, and keys without the forward permission', async () => {
    expect((await forward(`http://partner-a.test:${portA}/`)).status).toBe(400);
    expect((await t.http.get('/forward').set(tenant.headers)).status).toBe(400);
    const signer = await t.createKey('acme', ['role:tenant']);
    expect((await forward(`https://partner-a.test:${portA}/`, signer.headers)).status).toBe(403);
  });

  it("keeps another account's routes and identities out of reach", async () => {
    const res = await forward(`https://partner-a.test:${portA}/`, other.headers);
    expect(res.status).toBe(403);
    const steal = await t.http.post('/outbound-routes').set(other.headers).send({ match: { host: 'partner-a.test', port: portA }, identity: idA });
    expect(steal.status).toBe(400);
    const mine = await t.http.get('/outbound-routes').set(tenant.headers);
    expect(mine.body.items.length).toBe(8);
    const theirs = await t.http.get('/outbound-routes').set(other.headers);
    expect(theirs.body.items).toEqual([]);
    expect((await t.http.get(`/outbound-routes/${mine.body.items[0].id}`).set(other.headers)).status).toBe(404);
    expect((await t.http.delete(`/outbound-routes/${mine.body.items[0].id}`).set(other.headers)).status).toBe(404);
    expect((await t.http.get('/outbound-routes?account=acme').set(other.headers)).status).toBe(403);
    expect((await t.http.get('/outbound-routes?account=acme').set(t.admin)).body.items.length).toBe(8);
  });

  it('validates routes: a bad host, a duplicate, a bad serverCa', async () => {
    const post = (body: object) => t.http.post('/outbound-routes').set(tenant.headers).send(body);
    expect((await post({ match: { host: 'partner-a.test:443' }, identity: idA })).status).toBe(400);
    expect((await post({ match: { host: 'a/b' }, identity: idA })).status).toBe(400);
    expect((await post({ match: { host: 'PARTNER-A.TEST.', port: portA }, identity: idA })).status).toBe(409);
    expect((await post({ match: { host: 'x.test' }, identity: idA, serverCa: 'not pem' })).status).toBe(400);
    expect((await post({ match: { host: 'x.test' }, identity: 'nope' })).status).toBe(400);
    expect((await post({ match: { host: 'x.test', pathPrefix: '/a/%2F' }, identity: idA })).status).toBe(400);
    const x = await post({ match: { host: 'x.test' }, identity: idA });
    const y = await post({ match: { host: 'y.test', pathPrefix: '/p' }, identity: idA });
    expect([x.status, y.status]).toEqual([201, 201]);
    expect(x.headers.location).toBe(`/outbound-routes/${x.body.id}`);
    const clash = await t.http.put(`/outbound-routes/${y.body.id}`).set(tenant.headers).send({ match: { host: 'X.test' }, identity: idA });
    expect(clash.status).toBe(409);
    const move = await t.http.put(`/outbound-routes/${y.body.id}`).set(tenant.headers).send({ account: 'globex', match: { host: 'y.test' }, identity: idA });
    expect(move.status).toBe(400);
    for (const r of [x, y]) {
      expect((await t.http.delete(`/outbound-routes/${r.body.id}`).set(tenant.headers)).status).toBe(204);
      expect((await t.http.get(`/outbound-routes/${r.body.id}`).set(tenant.headers)).status).toBe(404);
    }
    expect((await t.http.post('/outbound-routes').set(tenant.headers).send({ account: 'globex', match: { host: 'z.test' }, identity: idA })).status).toBe(403);
  });

  it("presents a partner-CA identity's new certificate on the next request after PUT .../certificate (rotation)", async () => {
    const before = await forward(`https://partner-b.test:${portB}/api/rotation`);
    expect(before.status).toBe(200);
    const identity = await t.http.get(`/identities/${idB}`).set(tenant.headers);
    expect(before.text).toContain(`serial=${identity.body.serialNumber.toUpperCase()}`);
    const renewed = await signCsr(dir, partnerCa, identity.body.csr);
    const put = await t.http.put(`/identities/${idB}/certificate`).set(tenant.headers).set('Content-Type', 'application/x-pem-file').send(renewed);
    expect(put.status).toBe(200);
    expect(put.body.serialNumber).not.toBe(identity.body.serialNumber);
    const after = await forward(`https://partner-b.test:${portB}/api/rotation`);
    expect(after.status).toBe(200);
    expect(after.text).toContain('CN=acme-at-partner-b');
    expect(after.text).toContain(`serial=${put.body.serialNumber.toUpperCase()}`);
  });

  it('applies a changed identity on the next request (no cache)', async () => {
    const list = await t.http.get('/outbound-routes').set(tenant.headers);
    const routeB = list.body.items.find((r: { match: { host: string } }) => r.match.host === 'partner-b.test');
    expect(routeB.match.pathPrefix).toBe('/api');
    // B trusts only the partner CA: with identity A the handshake is refused by nginx
    const put = await t.http.put(`/outbound-routes/${routeB.id}`).set(tenant.headers).send({ match: routeB.match, identity: idA, serverCa: serverCa.pem });
    expect(put.status).toBe(200);
    const refused = await forward(`https://partner-b.test:${portB}/api/x`);
    expect(refused.status).toBe(400); // nginx: "The SSL certificate error"
    const back = await t.http.put(`/outbound-routes/${routeB.id}`).set(tenant.headers).send({ match: routeB.match, identity: idB, serverCa: serverCa.pem });
    expect(back.status).toBe(200);
    expect((await forward(`https://partner-b.test:${portB}/api/x`)).text).toContain('CN=acme-at-partner-b');
  });

  it('through the egress proxy with curl -x and -U appKey:appToken', async () => {
    const egress = await startEgress(
      { EGRESS_PORT: 0, EGRESS_HOST: '127.0.0.1', EGRESS_REQUEST_TIMEOUT_MS: 30_000, EGRESS_MAX_HEADER_BYTES: 16384 },
      { keys: t.service.keys, forwarder: t.service.forwarder! },
      pino({ level: 'silent' }),
    );
    try {
      const proxy = ['-x', `http://127.0.0.1:${egress.port}`, '-U', `${tenant.appKey}:${tenant.appToken}`];
      const a = await curl([...proxy, `http://partner-a.test:${portA}/via/egress`], dir);
      expect(a.status).toBe(200);
      expect(a.body).toContain('CN=erp-connector');
      expect(a.body).toContain('uri=/via/egress');
      const b = await curl([...proxy, `http://partner-b.test:${portB}/api/egress`], dir);
      expect(b.status).toBe(200);
      expect(b.body).toContain('CN=acme-at-partner-b');
      expect((await curl([...proxy, `http://unmapped.test:${portA}/`], dir)).status).toBe(403);
      expect((await curl([...proxy, 'http://169.254.169.254/latest/meta-data/'], dir)).status).toBe(403);
      expect((await curl(['-x', `http://127.0.0.1:${egress.port}`, `http://partner-a.test:${portA}/`], dir)).status).toBe(407);
      expect((await curl(['-x', `http://127.0.0.1:${egress.port}`, '-U', `${tenant.appKey}:wrong`, `http://partner-a.test:${portA}/`], dir)).status).toBe(407);
      expect((await curl([...proxy, `http://partner-a.test:${portA}/`], dir)).status).toBe(200);
      // CONNECT (curl for https:// through a proxy) is refused: the proxy must originate TLS itself
      const tunnel = await curl([...proxy, '-k', `https://partner-a.test:${portA}/`], dir);
      expect(tunnel.status).not.toBe(200);
      const other403 = await curl(['-x', `http://127.0.0.1:${egress.port}`, '-U', `${other.appKey}:${other.appToken}`, `http://partner-a.test:${portA}/`], dir);
      expect(other403.status).toBe(403);
    } finally {
      await egress.stop();
    }
  });
});
