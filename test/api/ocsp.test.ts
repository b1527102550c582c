import { binaryBody } from '../helpers/binary';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { backends } from '../helpers/backends';
import { openssl, opensslStatus } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('the OCSP responder with the real openssl client (%s)', (backend) => {
  let t: TestService;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    t = await startTestService(backend);
    server = t.service.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ocsp`;
    await fs.writeFile(path.join(t.dataDir, 'ca.pem'), (await t.http.get('/ca.pem')).text);
    // Another CA's certificate, to ask about as an issuer this responder does not serve.
    await openssl(['req', '-x509', '-new', '-nodes', '-subj', '/CN=stranger', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-keyout', 'stranger.key', '-out', 'stranger.crt', '-days', '1'], { cwd: t.dataDir });
  });
  afterAll(async () => {
    server.close();
    await t.close();
  });

  const ocsp = (certPath: string, extra: string[] = []) =>
    opensslStatus(['ocsp', '-issuer', 'ca.pem', '-cert', certPath, '-url', url, '-CAfile', 'ca.pem', ...extra], t.dataDir);

  it('records its delegated signer certificate in the ledger, under the service account', async () => {
    const res = await t.http.get('/private-certificates?account=mtls-ca').set(t.admin);
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({ account: 'mtls-ca', commonName: 'mtls-ca Root CA OCSP Responder', status: 'valid' });
  });

  it('puts the OCSP URL in issued certificates', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const { stdout } = await openssl(['x509', '-in', c.certPath, '-noout', '-ocsp_uri']);
    expect(stdout.trim()).toBe('http://ca.test/ocsp');
  });

  it('answers good, then revoked with the reason after a DELETE, signed by a delegated responder openssl verifies', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const good = await ocsp(c.certPath, ['-no_nonce']);
    expect(good.output).toContain('Response verify OK');
    expect(good.output).toContain(`${c.certPath}: good`);
    expect(good.code).toBe(0);

    expect((await t.http.delete(`/private-certificates/${c.serialNumber}?reason=keyCompromise`).set(tenant.headers)).status).toBe(200);
    const started = Date.now();
    const revoked = await eventually(async () => {
      const r = await ocsp(c.certPath, ['-no_nonce']);
      return r.output.includes(': revoked') ? r : null;
    }, 1500);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(revoked!.output).toContain('Response verify OK');
    expect(revoked!.output).toContain('Reason: keyCompromise');
  });

  it('echoes a nonce (openssl checks it)', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const r = await ocsp(c.certPath, ['-nonce', '-resp_text']);
    expect(r.output).toContain('Response verify OK');
    expect(r.output).toContain('OCSP Nonce');
    expect(r.output).not.toContain('WARNING: no nonce in response');
    expect(r.output).toContain(`${c.certPath}: good`);
    // The delegated signer: EKU OCSP Signing and id-pkix-ocsp-nocheck.
    expect(r.output).toContain('OCSP Signing');
    expect(r.output).toContain('OCSP No Check');
  });

  it('answers unknown for a serial that is not in the ledger', async () => {
    const r = await opensslStatus(['ocsp', '-issuer', 'ca.pem', '-serial', '0x0123456789ABCDEF', '-url', url, '-CAfile', 'ca.pem', '-no_nonce'], t.dataDir);
    expect(r.output).toContain('0x0123456789ABCDEF: unknown');
  });

  it('answers unauthorized for another issuer, and malformedRequest for garbage, over POST and GET, never a 5xx', async () => {
    const dir = t.dataDir;
    const r = await opensslStatus(['ocsp', '-issuer', 'stranger.crt', '-serial', '0x01', '-url', url, '-no_nonce'], dir);
    expect(r.output).toMatch(/unauthorized/i);
    for (const res of [
      await t.http.post('/ocsp').set('Content-Type', 'application/ocsp-request').send(Buffer.from('not der')).buffer(true).parse(binaryBody),
      await t.http.get('/ocsp/bm90IGRlcg%3D%3D').buffer(true).parse(binaryBody),
      await t.http.get('/ocsp/%%%').buffer(true).parse(binaryBody),
      await t.http.post('/ocsp').set('Content-Type', 'application/ocsp-request').send(Buffer.alloc(4000, 0x30)).buffer(true).parse(binaryBody),
    ]) {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/ocsp-response');
      expect(Buffer.from(res.body as Buffer).toString('hex')).toBe('30030a0101'); // malformedRequest
    }
  });
});
