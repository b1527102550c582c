import 'reflect-metadata';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openssl, tempDir } from '../helpers/openssl';
import { startTestService, type TestService } from '../helpers/test-service';

/**
 * A PKCS#12 file with high iteration counts (within the decoder's work budget) costs about a second or more
 * of synchronous key derivation. It is decoded in a worker thread, so the service keeps answering other
 * requests meanwhile: with the decode on the main thread, no other answer could come before it.
 */
describe('PKCS#12 decoding off the event loop', () => {
  let t: TestService;
  let dir: string;
  const p = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = await tempDir('p12-thread-');
    t = await startTestService('pglite');
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('c.key'), '-subj', '/CN=heavy/OU=acme', '-days', '2', '-out', p('c.pem')]);
    // Legacy PBE (3DES key bag, RC2 certificate bag) and MAC at 80,000 iterations: ~480,000 PKCS#12-KDF rounds.
    await openssl(['pkcs12', '-export', '-legacy', '-iter', '80000', '-inkey', p('c.key'), '-in', p('c.pem'), '-passout', 'pass:heavy-pw', '-out', p('heavy.p12')]);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('answers other requests while a heavy file is decoded, and the report is complete', async () => {
    const order: string[] = [];
    const tested = t.http.post('/pkcs12/test').set(t.admin).attach('file', p('heavy.p12'), 'heavy.p12').field('password', 'heavy-pw')
      .then((res) => {
        order.push('pkcs12');
        return res;
      });
    // Give the upload a head start, then ask for something cheap.
    await new Promise((r) => setTimeout(r, 150));
    const health = await t.http.get('/healthz');
    order.push('healthz');
    expect(health.status).toBe(200);
    const res = await tested;
    expect(res.status).toBe(200);
    expect(res.body.keys).toHaveLength(1);
    expect(res.body.keys[0].matchesLeaf).toBe(true);
    expect(res.body.protection.mac).toMatchObject({ iterations: 80000 });
    expect(order).toEqual(['healthz', 'pkcs12']);
  }, 120_000);

  it('answers 422 wrong-password through the worker, as on the main thread', async () => {
    const res = await t.http.post('/pkcs12/test').set(t.admin).attach('file', p('heavy.p12'), 'heavy.p12').field('password', 'not-it');
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ reason: 'wrong-password' });
  }, 120_000);
});
