import type { RunningGateway } from '../../src/gateway/gateway';
import { tempDir } from '../helpers/openssl';
import {
  curl,
  FakeCa,
  rawExchange,
  serveFakeCa,
  startCgiUpstream,
  startTestGateway,
  type ClientCertificate,
  type FakeCaServer,
  type RecordingUpstream,
} from '../helpers/gateway-harness';

/**
 * What the upstream learns about the client, seen by an upstream that folds header names the
 * CGI/WSGI way (X_Client_Account and X-Client-Account are one variable): only the gateway's identity
 * and forwarding headers, whatever the client sends, and identity headers that stay valid (and the
 * gateway alive) for any subject the CA may write.
 */
describe('the gateway identity and forwarding headers, seen by a CGI-style upstream', () => {
  let dir: string;
  let ca: FakeCa;
  let caServer: FakeCaServer;
  let cgi: RecordingUpstream;
  let gateway: RunningGateway;
  let acme: ClientCertificate;

  beforeAll(async () => {
    dir = await tempDir('mtls-ca-gateway-headers-');
    ca = await FakeCa.create(dir);
    const server = await ca.issueServer();
    acme = await ca.issueClient('CN=erp-connector, OU=acme');
    caServer = await serveFakeCa(ca, await ca.crl(1));
    // Folds every character but a letter or digit (lighttpd): a superset of the `-`/`_` folding of WSGI.
    cgi = await startCgiUpstream('any');
    gateway = await startTestGateway({
      GATEWAY_UPSTREAM: cgi.url,
      GATEWAY_CA_URL: caServer.url,
      GATEWAY_TLS_CERT_FILE: server.certPath,
      GATEWAY_TLS_KEY_FILE: server.keyPath,
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
    await cgi?.close();
    await caServer?.close();
  });

  const through = (who: ClientCertificate, extra: string[] = [], pathname = '/acme/orders') =>
    curl(['--cert', who.certPath, '--key', who.keyPath, '--cacert', ca.pemPath, ...extra, `${gateway.url}${pathname}`], dir);
  const envOf = (body: string) => JSON.parse(body).env as Record<string, string | undefined>;

  it.each([
    ['_ for -, any case', ['X_Client_Account: globex', 'x-client_account: globex', 'X-CLIENT-ACCOUNT: globex', 'X_CLIENT_CERT_SUBJECT: CN=boss', 'x_client_cert_serial: 01', 'X-Client-Cert_Fingerprint: 00']],
    // lighttpd reads every character but a letter or digit as `_`.
    ['any other punctuation, X.Client.Account', ['X.Client.Account: globex', 'X~Client~Account: globex', "X'Client'Cert'Subject: CN=boss", 'X*Client*Cert*Serial: 01', 'X|Client|Cert|Fingerprint: 00', 'X.Forwarded.For: 10.0.0.9']],
  ])('drops every spelling of the identity headers the client sends (%s): the upstream sees only the gateway account', async (_, spoofs) => {
    const res = await through(acme, [...spoofs, 'Real.IP: kept'].flatMap((h) => ['-H', h]));
    expect(res.status).toBe(200);
    const env = envOf(res.body);
    expect(env.HTTP_X_CLIENT_ACCOUNT).toBe('acme');
    expect(env.HTTP_X_CLIENT_CERT_SUBJECT).toBe('OU=acme,CN=erp-connector');
    expect(env.HTTP_X_CLIENT_CERT_SERIAL).toBe(acme.serialNumber);
    expect(env.HTTP_X_CLIENT_CERT_FINGERPRINT).toMatch(/^[0-9a-f]{64}$/);
    expect(env.HTTP_X_FORWARDED_FOR).toBe('127.0.0.1');
    expect(env.HTTP_REAL_IP).toBe('kept');
  });

  it('strips the forwarding headers the client sends and sets X-Forwarded-For/Proto/Host and Forwarded from the connection', async () => {
    const lies = ['Forwarded: for=10.0.0.1;host=admin.internal', 'X-Forwarded-For: 10.0.0.1', 'X_Forwarded_For: 10.0.0.2', 'X-Forwarded-Host: admin.internal', 'X-Forwarded-Proto: http', 'X-Forwarded-Prefix: /admin', 'X-Real-IP: 10.0.0.1', 'X-Original-URL: /globex/secret', 'X-Rewrite-URL: /globex/secret', 'True-Client-IP: 10.0.0.1'];
    const res = await through(acme, lies.flatMap((h) => ['-H', h]));
    expect(res.status).toBe(200);
    const env = envOf(res.body);
    const host = new URL(gateway.url).host;
    expect(env.HTTP_X_FORWARDED_FOR).toBe('127.0.0.1');
    expect(env.HTTP_X_FORWARDED_PROTO).toBe('https');
    expect(env.HTTP_X_FORWARDED_HOST).toBe(host);
    expect(env.HTTP_FORWARDED).toBe(`for=127.0.0.1;proto=https;host="${host}"`);
    expect(env.HTTP_HOST).toBe(new URL(cgi.url).host);
    for (const gone of ['HTTP_X_FORWARDED_PREFIX', 'HTTP_X_REAL_IP', 'HTTP_X_ORIGINAL_URL', 'HTTP_X_REWRITE_URL', 'HTTP_TRUE_CLIENT_IP']) expect(env[gone]).toBeUndefined();
  });

  it('strips hop-by-hop headers, the ones the client names in Connection included, and never forwards an Upgrade', async () => {
    const res = await through(acme, ['-H', 'Connection: keep-alive, X-Internal-Token, x_debug', '-H', 'X-Internal-Token: s3cret', '-H', 'X-Debug: 1', '-H', 'X-Kept: yes', '-H', 'Upgrade: h2c', '-H', 'HTTP2-Settings: AAMAAABkAAQAAP__', '-H', 'Keep-Alive: timeout=5', '-H', 'Proxy-Authorization: Basic eDp5']);
    expect(res.status).toBe(200);
    const env = envOf(res.body);
    expect(env.HTTP_X_KEPT).toBe('yes');
    for (const gone of ['HTTP_X_INTERNAL_TOKEN', 'HTTP_X_DEBUG', 'HTTP_UPGRADE', 'HTTP2_SETTINGS', 'HTTP_HTTP2_SETTINGS', 'HTTP_KEEP_ALIVE', 'HTTP_PROXY_AUTHORIZATION']) expect(env[gone]).toBeUndefined();
  });

  it('frames the body itself: a chunked body on a GET cannot smuggle a second request to the upstream', async () => {
    const smuggled = 'GET /globex/secret HTTP/1.1\r\nHost: upstream\r\nX-Client-Account: globex\r\n\r\n';
    const chunked = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const before = cgi.seen.length;
    const answer = await rawExchange(gateway.url, acme, ca.pemPath, `GET /acme/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // Give a smuggled second request every chance to arrive, then check it never did.
    const again = await through(acme, [], '/acme/after');
    expect(again.status).toBe(200);
    expect(cgi.seen.slice(before).map((s) => s.path)).toEqual(['/acme/x', '/acme/after']);
    expect(JSON.parse(answer.slice(answer.indexOf('{'))).body).toBe(smuggled);
  });

  it('passes a POST body through with its length', async () => {
    const res = await through(acme, ['-X', 'POST', '--data-binary', 'payload']);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).body).toBe('payload');
    expect(envOf(res.body).HTTP_CONTENT_LENGTH).toBe('7');
  });

  it('refuses two Host headers and a Host that is not host[:port] (400 invalid-host)', async () => {
    for (const hosts of ['Host: 127.0.0.1\r\nHost: admin.internal', 'Host: admin.internal"/><x']) {
      const answer = await rawExchange(gateway.url, acme, ca.pemPath, `GET /acme/x HTTP/1.1\r\n${hosts}\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('urn:mtls-ca:problem:invalid-host');
    }
  });

  // One certificate per identity header that carries text from the subject; the last CN tries to
  // inject a header. Each used to throw ERR_INVALID_CHAR and take the whole gateway down.
  it.each<[string, string, Array<Record<string, string[]>>, string]>([
    ['an organisation with Polish letters', 'X-Client-Cert-Subject', [{ CN: ['app'] }, { OU: ['acme'] }, { O: ['Łódź Sp'] }], 'O=\\C5\\81\\C3\\B3d\\C5\\BA Sp,OU=acme,CN=app'],
    ['an organisation with the euro sign', 'X-Client-Cert-Subject', [{ CN: ['app'] }, { OU: ['acme'] }, { O: ['€ Holding, Inc.'] }], 'O=\\E2\\82\\AC Holding\\, Inc.,OU=acme,CN=app'],
    ['a CJK locality', 'X-Client-Cert-Subject', [{ CN: ['app'] }, { OU: ['acme'] }, { L: ['東京'] }], 'L=\\E6\\9D\\B1\\E4\\BA\\AC,OU=acme,CN=app'],
    ['an emoji common name', 'X-Client-Cert-Subject', [{ CN: ['😀 app'] }, { OU: ['acme'] }], 'OU=acme,CN=\\F0\\9F\\98\\80 app'],
    ['a line break in the common name', 'X-Client-Cert-Subject', [{ CN: ['app\r\nX-Client-Account: globex'] }, { OU: ['acme'] }], 'OU=acme,CN=app\\0D\\0AX-Client-Account: globex'],
    ['a non-ASCII account', 'X-Client-Account', [{ CN: ['app'] }, { OU: ['zażółć'] }], 'za\\C5\\BC\\C3\\B3\\C5\\82\\C4\\87'],
  ])('passes a certificate with %s on in an escaped %s, and stays up', async (_case, header, subject, expected) => {
    const names: Record<string, string> = { CN: '2.5.4.3', OU: '2.5.4.11', O: '2.5.4.10', L: '2.5.4.7' };
    const json = subject.map((rdn) => Object.fromEntries(Object.entries(rdn).map(([k, v]) => [names[k], v.map((utf8String) => ({ utf8String }))])));
    const odd = await ca.issueClient(json);
    const res = await through(odd, [], '/x');
    expect(res.status).toBe(200);
    const env = envOf(res.body);
    expect(env[`HTTP_${header.toUpperCase().replace(/-/g, '_')}`]).toBe(expected);
    if (header !== 'X-Client-Account') expect(env.HTTP_X_CLIENT_ACCOUNT).toBe('acme');
    expect((await through(acme)).status).toBe(200);
  });
});
