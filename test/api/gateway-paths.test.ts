import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RunningGateway } from '../../src/gateway/gateway';
import { tempDir } from '../helpers/openssl';
import {
  curl,
  FakeCa,
  rawExchange,
  serveFakeCa,
  startExpressUpstream,
  startTestGateway,
  type ClientCertificate,
  type FakeCaServer,
  type RecordingUpstream,
} from '../helpers/gateway-harness';

/**
 * The per-path allow-list, attacked the ways a red-team review did: every spelling of a globex path
 * sent with an acme certificate, through the real gateway, with curl sending the target byte for byte,
 * in front of Express (which routes case-insensitively and would serve /GLOBEX/secret for /globex/secret).
 */
describe('the gateway allow-list, against path tricks', () => {
  let dir: string;
  let ca: FakeCa;
  let caServer: FakeCaServer;
  let upstream: RecordingUpstream;
  let strict: RunningGateway;
  let lenient: RunningGateway;
  let acme: ClientCertificate;
  let globex: ClientCertificate;

  beforeAll(async () => {
    const { stdout } = await promisify(execFile)('curl', ['--version']);
    const [, major, minor] = /curl (\d+)\.(\d+)/.exec(stdout)!.map(Number);
    expect(major * 100 + minor).toBeGreaterThanOrEqual(755); // --request-target
    dir = await tempDir('mtls-ca-gateway-paths-');
    ca = await FakeCa.create(dir);
    const server = await ca.issueServer();
    acme = await ca.issueClient('CN=erp-connector, OU=acme');
    globex = await ca.issueClient('CN=billing, OU=globex');
    caServer = await serveFakeCa(ca, await ca.crl(1));
    upstream = await startExpressUpstream();
    const env = {
      GATEWAY_UPSTREAM: upstream.url,
      GATEWAY_CA_URL: caServer.url,
      GATEWAY_TLS_CERT_FILE: server.certPath,
      GATEWAY_TLS_KEY_FILE: server.keyPath,
      GATEWAY_ALLOW: '/acme/=acme,/globex/=globex,/shared=acme|globex',
    };
    strict = await startTestGateway(env);
    lenient = await startTestGateway({ ...env, GATEWAY_ALLOW_UNLISTED: 'true', GATEWAY_ALLOW_CASE_INSENSITIVE: 'true' });
  }, 60_000);
  afterAll(async () => {
    await strict?.stop();
    await lenient?.stop();
    await upstream?.close();
    await caServer?.close();
  });

  const send = (gateway: RunningGateway, who: ClientCertificate, target: string, extra: string[] = []) =>
    curl(['--cert', who.certPath, '--key', who.keyPath, '--cacert', ca.pemPath, '--path-as-is', ...extra, `${gateway.url}${target}`], dir);
  /** Sends `target` as the request line's target exactly (curl --request-target). */
  const sendTarget = (gateway: RunningGateway, who: ClientCertificate, target: string, extra: string[] = []) =>
    curl(['--cert', who.certPath, '--key', who.keyPath, '--cacert', ca.pemPath, '--request-target', target, ...extra, `${gateway.url}/`], dir);
  const problemType = (body: string) => JSON.parse(body).type as string;

  it.each([
    ['a dot-dot segment', '/acme/../globex/secret'],
    ['encoded dots', '/acme/%2e%2e/globex/secret'],
    ['encoded dots, upper case', '/acme/%2E%2E/globex/secret'],
    ['a doubled slash', '//globex/secret'],
    ['a dot slash', '/./globex/secret'],
    ['dot segments after doubled slashes', '/acme//..//globex/secret'],
    ['a percent-encoded letter', '/%67lobex/secret'],
    ['percent-encoded letters everywhere', '/%67%6C%6F%62%65%78/%73ecret'],
    ['a path parameter on the segment', '/globex;jsessionid=1/secret'],
    ['climbing above the root', '/../../globex/secret'],
  ])('refuses an acme certificate on a globex path spelt with %s (403 account-not-allowed), the upstream never asked', async (_case, target) => {
    const before = upstream.seen.length;
    const res = await send(strict, acme, target);
    expect(res.status).toBe(403);
    expect(problemType(res.body)).toBe('urn:mtls-ca:problem:account-not-allowed');
    expect(JSON.parse(res.body).detail).toBe('account acme may not use /globex/');
    expect(upstream.seen.length).toBe(before);
  });

  it.each([
    ['an encoded slash', '/acme/..%2Fglobex/secret'],
    ['an encoded slash, lower case', '/acme%2f..%2fglobex/secret'],
    ['an encoded backslash', '/acme/..%5Cglobex/secret'],
    ['an encoded NUL', '/acme/x%00'],
    ['an encoded line break', '/acme/x%0D%0AX-Client-Account:%20globex'],
    ['invalid percent-encoding', '/acme/%zz'],
    ['a truncated percent-encoding', '/acme/%2'],
    ['double percent-encoding', '/acme/%252e%252e/globex/secret'],
    ['an overlong UTF-8 dot', '/acme/%C0%AE%C0%AE/globex/secret'],
    ['an overlong UTF-8 slash', '/acme/..%C0%AFglobex/secret'],
    ['bytes that are not UTF-8', '/acme/%FF'],
    ['a dot-dot segment with parameters', '/acme/..;/globex/secret'],
    ['an encoded dot-dot with parameters', '/acme/%2e%2e;x=1/globex/secret'],
  ])('refuses %s in the path (400 invalid-request-target), the upstream never asked', async (_case, target) => {
    const before = upstream.seen.length;
    const res = await send(strict, acme, target);
    expect(res.status).toBe(400);
    expect(problemType(res.body)).toBe('urn:mtls-ca:problem:invalid-request-target');
    expect(upstream.seen.length).toBe(before);
  });

  it.each([
    ['a raw backslash', '/acme\\..\\globex\\secret', 400, 'invalid-request-target'],
    ['a fragment', '/acme/x#frag', 400, 'invalid-request-target'],
    ['the asterisk form', '*', 400, 'invalid-request-target'],
    ['an absolute-form globex URL', 'http://localhost/globex/secret', 403, 'account-not-allowed'],
    ['an absolute-form URL with dot segments', 'https://127.0.0.1/acme/../globex/secret', 403, 'account-not-allowed'],
    ['another scheme', 'ftp://localhost/acme/x', 400, 'invalid-request-target'],
  ])('answers a request target with %s as a problem, the upstream never asked', async (_case, target, status, kind) => {
    const before = upstream.seen.length;
    const res = await sendTarget(strict, acme, target);
    expect(res.status).toBe(status);
    expect(problemType(res.body)).toBe(`urn:mtls-ca:problem:${kind}`);
    expect(upstream.seen.length).toBe(before);
  });

  it('unwraps an absolute-form target: the upstream sees its own host and the normalised path, never the client-chosen host', async () => {
    const res = await sendTarget(strict, acme, 'http://evil.example/acme/./x/../orders?limit=5%2F');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).path).toBe('/acme/orders?limit=5%2F');
    const seen = upstream.seen[upstream.seen.length - 1];
    expect(seen.headers.host).toBe(new URL(upstream.url).host);
  });

  it('forwards the very path it checked: dot segments removed, slashes collapsed, unreserved escapes decoded, the query as sent', async () => {
    const res = await send(strict, acme, '/acme//%7Ereports/./2024/../%41ll%20time?q=%2e%2e%2F&x=1');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ path: '/acme/~reports/All%20time?q=%2e%2e%2F&x=1', account: 'acme' });
  });

  it('matches whole segments: /acme/ covers /acme itself, never /acme-corp (unlisted, so refused)', async () => {
    expect((await send(strict, acme, '/acme')).status).toBe(200);
    expect((await send(strict, globex, '/acme')).status).toBe(403);
    const sibling = await send(strict, acme, '/acme-corp/x');
    expect(sibling.status).toBe(403);
    expect(problemType(sibling.body)).toBe('urn:mtls-ca:problem:path-not-allowed');
    expect((await send(strict, globex, '/shared/report')).status).toBe(200);
    expect((await send(strict, acme, '/shared')).status).toBe(200);
  });

  it('refuses a path no rule covers (403 path-not-allowed) unless GATEWAY_ALLOW_UNLISTED=true', async () => {
    const before = upstream.seen.length;
    const res = await send(strict, acme, '/status');
    expect(res.status).toBe(403);
    expect(problemType(res.body)).toBe('urn:mtls-ca:problem:path-not-allowed');
    expect(upstream.seen.length).toBe(before);
    const open = await send(lenient, acme, '/status');
    expect(open.status).toBe(200);
    expect(JSON.parse(open.body).path).toBe('/status');
  });

  it('is case-sensitive by default (/GLOBEX/ is unlisted, refused) and folds case with GATEWAY_ALLOW_CASE_INSENSITIVE=true', async () => {
    const before = upstream.seen.length;
    const strictAnswer = await send(strict, acme, '/GLOBEX/secret');
    expect(strictAnswer.status).toBe(403);
    expect(problemType(strictAnswer.body)).toBe('urn:mtls-ca:problem:path-not-allowed');
    for (const target of ['/GLOBEX/secret', '/Globex/secret', '/%47lobex/secret']) {
      const folded = await send(lenient, acme, target);
      expect(folded.status).toBe(403);
      expect(problemType(folded.body)).toBe('urn:mtls-ca:problem:account-not-allowed');
    }
    expect(upstream.seen.length).toBe(before);
    const owner = await send(lenient, globex, '/GLOBEX/secret');
    expect(owner.status).toBe(200);
    expect(JSON.parse(owner.body)).toEqual({ secret: 'globex' });
  });

  it('refuses CONNECT (405): the gateway is not a forward proxy', async () => {
    const answer = await rawExchange(strict.url, acme, ca.pemPath, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(answer).toContain('urn:mtls-ca:problem:method-not-allowed');
  });
});
