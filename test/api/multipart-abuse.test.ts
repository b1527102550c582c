import { MASTER_KEY } from '../helpers/custody';
import { startTestService, type TestService } from '../helpers/test-service';

const PROBLEM = /^application\/problem\+json/;

/**
 * Security review of the shared multipart reader (src/http/multipart.ts) through both routes that use it.
 * The finding: a form that ends inside the file part (no closing boundary) made busboy destroy the file
 * stream with an error nobody listened to, and the service process exited: one request from any API key
 * (POST /pkcs12/test needs no permission) stopped the CA.
 */
describe('multipart bodies from a hostile client', () => {
  let t: TestService;
  let reader: { headers: Record<string, string> };
  let manager: { headers: Record<string, string> };

  beforeAll(async () => {
    t = await startTestService('pglite', { env: { MTLS_CA_MASTER_KEY: MASTER_KEY } });
    reader = await t.createKey('acme', ['certificates:read']);
    manager = await t.createKey('acme', ['identities:manage']);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  const raw = (path: string, headers: Record<string, string>, body: string, contentType = 'multipart/form-data; boundary=XyZ') =>
    t.http.post(path).set(headers).set('Content-Type', contentType).send(body);
  const filePart = (name = 'file') => `--XyZ\r\nContent-Disposition: form-data; name="${name}"; filename="a.p12"\r\nContent-Type: application/octet-stream\r\n\r\n`;

  it.each([
    ['/pkcs12/test', 'reader'],
    ['/identities', 'manager'],
  ])('answers 400 to a form that ends inside the file part on %s, and the service lives on', async (path, who) => {
    const headers = who === 'reader' ? reader.headers : manager.headers;
    const res = await raw(path, headers, `--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\npw\r\n${filePart()}0123456789`);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM);
    expect((await t.http.get('/healthz')).status).toBe(200);
  });

  it('answers 415 without a boundary, 400 to many parts, an oversized part header or an unknown field', async () => {
    expect((await raw('/pkcs12/test', reader.headers, filePart(), 'multipart/form-data')).status).toBe(415);
    const many = Array.from({ length: 50 }, (_, i) => `--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\n${i}\r\n`).join('') + '--XyZ--\r\n';
    expect((await raw('/pkcs12/test', reader.headers, many)).status).toBe(400);
    const bigHeader = `--XyZ\r\nContent-Disposition: form-data; name="password"\r\nX-Pad: ${'a'.repeat(40_000)}\r\n\r\npw\r\n--XyZ--\r\n`;
    expect((await raw('/pkcs12/test', reader.headers, bigHeader)).status).toBe(400);
    const unknown = `--XyZ\r\nContent-Disposition: form-data; name="secret"\r\n\r\nx\r\n--XyZ--\r\n`;
    expect((await raw('/pkcs12/test', reader.headers, unknown)).status).toBe(400);
    expect((await t.http.get('/healthz')).status).toBe(200);
  });
});
