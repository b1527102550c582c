import { promises as fs } from 'node:fs';
import path from 'node:path';
import { binaryBody } from '../helpers/binary';
import { openssl } from '../helpers/openssl';
import { issue } from '../helpers/sign';
import { capturedLogger } from '../helpers/log-capture';
import { startTestService, type TestService } from '../helpers/test-service';

/** Headers that differ between any two answers. */
const varying = new Set(['date', 'x-request-id']);
const stable = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).filter(([k]) => !varying.has(k)));

/**
 * GET /crl, /crl.pem and /ocsp/{request} are answered ahead of Express (src/http/hot-routes.ts). Express
 * matches paths case-insensitively, so /CRL and /OCSP/… still go through the whole Express chain: the
 * two must give the same answers, headers, metrics and log lines.
 */
describe('hot routes answer exactly as the Express chain does', () => {
  let t: TestService;
  let lines: Array<Record<string, unknown>>;
  let ocspPath: string;
  beforeAll(async () => {
    const captured = capturedLogger();
    lines = captured.lines;
    t = await startTestService('pglite', { logger: captured.logger });
    const key = await t.createKey('acme', ['certificates:sign']);
    const { certPath } = await issue(t, key.headers, '/CN=hot-routes/OU=acme/C=BR');
    await fs.writeFile(path.join(t.dataDir, 'ca.pem'), (await t.http.get('/ca.pem')).text);
    await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', certPath, '-no_nonce', '-reqout', 'req.der'], { cwd: t.dataDir });
    ocspPath = `/ocsp/${encodeURIComponent((await fs.readFile(path.join(t.dataDir, 'req.der'))).toString('base64'))}`;
  });
  afterAll(() => t.close());

  const get = (p: string, headers: Record<string, string> = {}) => t.http.get(p).set(headers).buffer(true).parse(binaryBody);

  it('serves /crl and /crl.pem with the same status, headers and bytes, 200 and 304', async () => {
    for (const [hot, express] of [['/crl', '/CRL'], ['/crl.pem', '/CRL.PEM']]) {
      const [a, b] = [await get(hot), await get(express)];
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      expect(stable(a.headers)).toEqual(stable(b.headers));
      expect(Buffer.compare(a.body as Buffer, b.body as Buffer)).toBe(0);
      for (const tag of [a.headers.etag, `W/${a.headers.etag}`, '*', `"other", ${a.headers.etag}`]) {
        const [c, d] = [await get(hot, { 'If-None-Match': tag }), await get(express, { 'If-None-Match': tag })];
        expect(c.status).toBe(304);
        expect(d.status).toBe(304);
        expect(stable(c.headers)).toEqual(stable(d.headers));
      }
      expect((await get(hot, { 'If-None-Match': '"not-it"' })).status).toBe(200);
    }
  });

  it('serves GET /ocsp/{request} with the same headers, good or malformed, and echoes the request id', async () => {
    for (const suffix of [ocspPath.slice(6), 'MAMKAQE%3D', '%E0%A4%A', 'not*base64']) {
      const [a, b] = [await get(`/ocsp/${suffix}`, { 'X-Request-Id': 'hot-1' }), await get(`/OCSP/${suffix}`, { 'X-Request-Id': 'hot-1' })];
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      expect(a.headers['x-request-id']).toBe('hot-1');
      // Each answer may be signed anew, and an ECDSA signature's DER length varies by a byte or two:
      // the lengths are compared with each body, the other headers with each other.
      const { 'content-length': la, ...ha } = stable(a.headers);
      const { 'content-length': lb, ...hb } = stable(b.headers);
      expect(ha).toEqual(hb);
      expect([Number(la), Number(lb)]).toEqual([(a.body as Buffer).length, (b.body as Buffer).length]);
      expect(a.headers['content-type']).toBe('application/ocsp-response');
    }
  });

  it('logs one access line per answer with the same fields, and counts it in the metrics by route', async () => {
    await get('/crl', { 'X-Request-Id': 'hot-log-1' });
    await get(ocspPath, { 'X-Request-Id': 'hot-log-2' });
    await new Promise((r) => setImmediate(r));
    const crlLine = lines.find((l) => l.requestId === 'hot-log-1' && l.msg === 'request');
    expect(crlLine).toMatchObject({ method: 'GET', path: '/crl', status: 200 });
    expect(typeof crlLine?.ms).toBe('number');
    expect(typeof crlLine?.ip).toBe('string');
    expect(lines.find((l) => l.requestId === 'hot-log-2' && l.msg === 'request')).toMatchObject({ method: 'GET', status: 200 });
    const metrics = (await t.http.get('/metrics').set(t.admin)).text;
    expect(metrics).toMatch(/route="\/crl",status="200"/);
    expect(metrics).toMatch(/route="\/ocsp\/:request",status="200"/);
  });

  it('leaves an over-long URL to the limits (414) and other methods to Express', async () => {
    expect((await t.http.get(`/ocsp/${'A'.repeat(3000)}`)).status).toBe(414);
    expect((await t.http.head('/crl')).status).toBe(200);
    expect((await t.http.post('/crl')).status).toBe(404);
  });
});
