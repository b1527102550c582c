import { backends } from '../helpers/backends';
import { fixture } from '../helpers/openssl';
import { startTestService } from '../helpers/test-service';

describe.each(backends())('service lifecycle on %s', (backend) => {
  it('keeps the CA, the keys and the ledger across a restart, and never bootstraps a second admin', async () => {
    let t = await startTestService(backend);
    try {
      const tenant = await t.createKey('acme', ['certificates:sign']);
      const caBefore = (await t.http.get('/ca.pem')).text;
      const signed = await t.http.post('/private-certificates/sign').set(tenant.headers).set('Content-Type', 'text/plain').send(await fixture('ec-p256.csr'));
      expect(signed.status).toBe(200);
      const serial = signed.headers.location.split('/').pop() as string;

      t = await t.restart();
      expect(t.service.bootstrapKey).toBeNull();
      expect((await t.http.get('/ca.pem')).text).toBe(caBefore);
      expect(await t.service.ledger.certificates.findBySerial(serial)).not.toBeNull();
      const again = await t.http.post('/private-certificates/sign').set(tenant.headers).set('Content-Type', 'text/plain').send(await fixture('ec-p256.csr'));
      expect(again.status).toBe(200);
      const keys = await t.http.get('/keys').set(t.admin);
      expect(keys.body.items.filter((k: { permissions: string[] }) => k.permissions.includes('admin'))).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it('reports health and readiness', async () => {
    const t = await startTestService(backend);
    try {
      const health = await t.http.get('/healthz');
      expect(health.body).toEqual({ status: 'ok' });
      expect(health.headers['x-content-type-options']).toBe('nosniff');
      expect(health.headers['content-security-policy']).toContain("default-src 'none'");
      expect(health.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect((await t.http.get('/healthz').set('X-Request-Id', 'trace-123')).headers['x-request-id']).toBe('trace-123');
      const ready = await t.http.get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ready', checks: { database: true, caKey: true, crl: true }, details: { activeIssuer: expect.stringMatching(/^[0-9a-f]{12}$/) } });
      await t.service.ledger.sql.close();
      const notReady = await t.http.get('/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.body.checks.database).toBe(false);
      const sign = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').send(await fixture('ec-p256.csr'));
      expect(sign.status).toBe(503);
      expect(sign.body.type).toBe('urn:mtls-ca:problem:ledger-unavailable');
    } finally {
      await t.close();
    }
  });

  it.each(['ECDSA-P384', 'RSA-2048'])('issues certificates under a generated %s CA', async (alg) => {
    const t = await startTestService(backend, { env: { CA_KEY_ALGORITHM: alg } });
    try {
      const res = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').send(await fixture('vtex-rsa2048-sha512.csr'));
      expect(res.status).toBe(200);
      const { X509Certificate } = await import('node:crypto');
      const cert = new X509Certificate(res.text);
      expect(cert.verify(new X509Certificate(t.service.ca.certificateDer).publicKey)).toBe(true);
    } finally {
      await t.close();
    }
  });
});
