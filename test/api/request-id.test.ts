import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openssl } from '../helpers/openssl';
import { issue } from '../helpers/sign';
import { capturedLogger } from '../helpers/log-capture';
import { startTestService, type TestService } from '../helpers/test-service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request ids', () => {
  let t: TestService;
  let lines: Array<Record<string, unknown>>;
  beforeAll(async () => {
    const captured = capturedLogger();
    lines = captured.lines;
    t = await startTestService('pglite', { logger: captured.logger });
  });
  afterAll(() => t.close());

  /** The log lines of one request; the access line is written when the answer has gone out. */
  const logsOf = async (requestId: string) => {
    await new Promise((r) => setImmediate(r));
    return lines.filter((l) => l.requestId === requestId);
  };

  it('echoes a well-formed X-Request-Id and puts it on every log line of the request', async () => {
    const id = 'trace-4711.a:b_c';
    const res = await t.http.post('/private-certificates/sign').set(t.admin).set('X-Request-Id', id).set('Content-Type', 'text/plain').send('not a CSR');
    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toBe(id);
    const logged = await logsOf(id);
    expect(logged.map((l) => l.msg).sort()).toEqual(['request', 'request rejected']);
    expect(logged.find((l) => l.msg === 'request')).toMatchObject({ method: 'POST', path: '/private-certificates/sign', status: 400 });
  });

  it('replaces a malformed or oversized X-Request-Id with a fresh UUID, and logs only that', async () => {
    for (const given of ['has spaces in it', 'x'.repeat(129), 'semi;colon', '<script>']) {
      const res = await t.http.get('/no-such-route').set('X-Request-Id', given);
      expect(res.status).toBe(404);
      const id = res.headers['x-request-id'];
      expect(id).toMatch(UUID);
      const logged = await logsOf(id);
      expect(logged.map((l) => l.msg).sort()).toEqual(['request', 'request rejected']);
      expect(JSON.stringify(lines)).not.toContain(given);
    }
  });

  it('generates a different id for each request that brings none', async () => {
    const [a, b] = await Promise.all([t.http.get('/healthz'), t.http.get('/healthz')]);
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    expect(await logsOf(a.headers['x-request-id'])).toHaveLength(1);
  });

  it('carries the request id on the error logs of failed requests (a 5xx, an OCSP tryLater)', async () => {
    // An OCSP request for a certificate never asked about (so not answered from the cache).
    const cert = await issue(t, t.admin);
    await fs.writeFile(path.join(t.dataDir, 'ca.pem'), (await t.http.get('/ca.pem')).text);
    await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', cert.certPath, '-no_nonce', '-reqout', 'req.der'], { cwd: t.dataDir });
    await t.service.ledger.close(); // every ledger read fails from now on

    const res = await t.http.get('/private-certificates').set(t.admin).set('X-Request-Id', 'after-ledger-closed');
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.headers['x-request-id']).toBe('after-ledger-closed');
    expect((await logsOf('after-ledger-closed')).find((l) => l.msg === 'request failed')).toMatchObject({ level: 50 });

    const ocsp = await t.http
      .post('/ocsp')
      .set('X-Request-Id', 'ocsp-after-ledger-closed')
      .set('Content-Type', 'application/ocsp-request')
      .send(await fs.readFile(path.join(t.dataDir, 'req.der')));
    expect(ocsp.status).toBe(200);
    expect((await logsOf('ocsp-after-ledger-closed')).find((l) => l.msg === 'OCSP response failed')).toMatchObject({ level: 50 });
  });
});
