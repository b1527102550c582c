import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FixedClock } from '../../src/domain/clock';
import { backends } from '../helpers/backends';
import { crlSerials, fetchCrl } from '../helpers/crl';
import { openssl, opensslStatus } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('the CRL on %s', (backend) => {
  let t: TestService;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  beforeAll(async () => {
    t = await startTestService(backend);
    acme = await t.createKey('acme', ['role:tenant']);
    await fs.writeFile(path.join(t.dataDir, 'ca.pem'), (await t.http.get('/ca.pem')).text);
  });
  afterAll(() => t.close());

  const revoke = (serial: string, reason = 'unspecified') => t.http.delete(`/private-certificates/${serial}?reason=${reason}`).set(acme.headers);

  it('is a v2 CRL signed by the CA that openssl verifies, with AKI and CRL number', async () => {
    const { der, crl } = await fetchCrl(t);
    await fs.writeFile(path.join(t.dataDir, 'crl.der'), der);
    const check = await opensslStatus(['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout'], t.dataDir);
    expect(check.output).toContain('verify OK');
    expect(check.code).toBe(0);
    const text = (await openssl(['crl', '-inform', 'DER', '-in', 'crl.der', '-noout', '-text'], { cwd: t.dataDir })).stdout;
    expect(text).toContain('Version 2 (0x1)');
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toContain('X509v3 CRL Number');
    expect(crl.nextUpdate!.getTime() - crl.thisUpdate.getTime()).toBe(24 * 3600 * 1000);
  });

  it('makes openssl refuse a revoked certificate once the CRL lists it, and still accept a valid one', async () => {
    const valid = await issue(t, acme.headers);
    const revoked = await issue(t, acme.headers);
    const res = await revoke(revoked.serialNumber, 'keyCompromise');
    expect(res.status).toBe(200);
    // How fast is for `npm run bench`; here: it gets there.
    await eventually(async () => crlSerials((await fetchCrl(t)).crl).includes(revoked.serialNumber), 10_000, 25, 'the revoked serial on the CRL');

    await fs.writeFile(path.join(t.dataDir, 'crl.pem'), (await t.http.get('/crl.pem')).text);
    const bad = await opensslStatus(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', revoked.certPath], t.dataDir);
    expect(bad.code).not.toBe(0);
    expect(bad.output).toContain('certificate revoked');
    const good = await opensslStatus(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', valid.certPath], t.dataDir);
    expect(good.output).toContain(': OK');
    expect(good.code).toBe(0);
  });

  it('carries each reason code, omitting unspecified, and the revocation time', async () => {
    const a = await issue(t, acme.headers);
    const b = await issue(t, acme.headers);
    const ra = await revoke(a.serialNumber, 'superseded');
    await revoke(b.serialNumber, 'unspecified');
    const crl = await eventually(async () => {
      const { crl } = await fetchCrl(t);
      return crlSerials(crl).includes(a.serialNumber) && crlSerials(crl).includes(b.serialNumber) ? crl : null;
    }, 10_000, 25, 'both revocations on the CRL');
    const ea = crl.entries.find((e) => e.serialNumber.toUpperCase() === a.serialNumber)!;
    const eb = crl.entries.find((e) => e.serialNumber.toUpperCase() === b.serialNumber)!;
    expect(ea.reason).toBe(4);
    expect(eb.extensions).toHaveLength(0);
    expect(ea.revocationDate.getTime()).toBe(Math.floor(new Date(ra.body.revokedAt).getTime() / 1000) * 1000);
  });

  it('coalesces a burst of revokes and strictly increases the CRL number', async () => {
    const before = (await fetchCrl(t)).number;
    const certs = await Promise.all([1, 2, 3, 4, 5].map(() => issue(t, acme.headers)));
    await Promise.all(certs.map((c) => revoke(c.serialNumber)));
    const after = await eventually(async () => {
      const f = await fetchCrl(t);
      return certs.every((c) => crlSerials(f.crl).includes(c.serialNumber)) ? f : null;
    }, 10_000, 25, 'the whole burst on the CRL');
    expect(after.number).toBeGreaterThan(before);
    expect(after.number - before).toBeLessThan(5n);
  });

  it('is served from memory with validators: ETag, Last-Modified, Cache-Control bounded by nextUpdate, 304', async () => {
    const first = await fetchCrl(t);
    expect(first.headers['content-type']).toBe('application/pkix-crl');
    expect(first.headers.etag).toMatch(/^"[0-9a-f]+-[A-Za-z0-9_-]+"$/);
    expect(new Date(first.headers['last-modified']).getTime()).toBe(first.crl.thisUpdate.getTime());
    expect(first.headers['cache-control']).toMatch(/^public, max-age=\d+, must-revalidate$/);
    const maxAge = Number(/max-age=(\d+)/.exec(first.headers['cache-control'])![1]);
    expect(maxAge).toBeLessThanOrEqual((first.crl.nextUpdate!.getTime() - Date.now()) / 1000);
    // A CRL built meanwhile (the earlier tests' revocations) answers 200 with a new ETag; the same CRL must answer 304.
    let current = first;
    let notModified = await t.http.get('/crl').set('If-None-Match', current.headers.etag);
    for (let i = 0; notModified.status === 200 && i < 20; i++) {
      expect(notModified.headers.etag).not.toBe(current.headers.etag);
      current = await fetchCrl(t);
      notModified = await t.http.get('/crl').set('If-None-Match', current.headers.etag);
    }
    expect(notModified.status).toBe(304);
    const pem = await t.http.get('/crl.pem');
    expect(pem.headers['content-type']).toMatch(/^application\/x-pem-file/);
    expect(pem.text).toMatch(/^-----BEGIN X509 CRL-----/);
    expect(pem.headers.etag).not.toBe(first.headers.etag);
  });

  it('keeps a strictly increasing CRL number across a restart', async () => {
    const before = (await fetchCrl(t)).number;
    const c = await issue(t, acme.headers);
    t = await t.restart();
    acme = { ...acme };
    const afterRestart = (await fetchCrl(t)).number;
    expect(afterRestart).toBeGreaterThanOrEqual(before);
    await revoke(c.serialNumber);
    const next = await eventually(async () => {
      const f = await fetchCrl(t);
      return f.number > afterRestart ? f : null;
    }, 10_000, 25, 'a CRL newer than the one at restart');
    expect(next.number).toBeGreaterThan(afterRestart);
  });
});

describe.each(backends())('CRL freshness with a fake clock on %s', (backend) => {
  it('refreshes nextUpdate on the timer with no revocations, and drops entries one CRL after they expire', async () => {
    const clock = new FixedClock(new Date('2026-06-01T00:00:00Z'));
    const t = await startTestService(backend, {
      clock,
      env: { CERT_VALIDITY_DAYS: '1', CRL_VALIDITY: '24h', CRL_REFRESH_INTERVAL: '6h' },
      crl: { pollMs: 25 },
    });
    try {
      const tenant = await t.createKey('acme', ['role:tenant']);
      const c = await issue(t, tenant.headers);
      await t.http.delete(`/private-certificates/${c.serialNumber}`).set(tenant.headers);
      const first = await eventually(async () => {
        const f = await fetchCrl(t);
        return crlSerials(f.crl).includes(c.serialNumber) ? f : null;
      }, 10_000, 25, 'the revocation on the CRL');
      expect(first.crl.nextUpdate!.toISOString()).toBe('2026-06-02T00:00:00.000Z');

      // Nothing happens; 7 hours later the timer has issued a fresh CRL.
      clock.advance(7 * 3600_000);
      const refreshed = await eventually(async () => {
        const f = await fetchCrl(t);
        return f.number > first.number ? f : null;
      }, 10_000, 25, 'the timer-issued CRL');
      expect(refreshed.crl.thisUpdate.toISOString()).toBe('2026-06-01T07:00:00.000Z');
      expect(refreshed.crl.nextUpdate!.toISOString()).toBe('2026-06-02T07:00:00.000Z');
      expect(crlSerials(refreshed.crl)).toContain(c.serialNumber);

      // The certificate expires (1 day). The first CRL issued after that still lists it; the next does not.
      clock.advance(18 * 3600_000);
      const afterExpiry = await eventually(async () => {
        const f = await fetchCrl(t);
        return f.number > refreshed.number ? f : null;
      }, 10_000, 25, 'the CRL after the certificate expired');
      expect(afterExpiry.crl.thisUpdate.getTime()).toBeGreaterThan(new Date('2026-06-02T00:05:00Z').getTime());
      expect(crlSerials(afterExpiry.crl)).toContain(c.serialNumber);
      clock.advance(7 * 3600_000);
      const later = await eventually(async () => {
        const f = await fetchCrl(t);
        return f.number > afterExpiry.number ? f : null;
      }, 10_000, 25, 'the next CRL');
      expect(crlSerials(later.crl)).not.toContain(c.serialNumber);
    } finally {
      await t.close();
    }
  });
});

describe.each(backends())('CRL conditional requests on %s', (backend) => {
  it('ignores If-Modified-Since (two CRLs can share a second): only the ETag gives a 304', async () => {
    const t = await startTestService(backend);
    try {
      const { crl } = await fetchCrl(t);
      expect((await t.http.get('/crl').set('If-Modified-Since', crl.thisUpdate.toUTCString())).status).toBe(200);
    } finally {
      await t.close();
    }
  }, 90_000); // starts its own service: a fresh embedded database takes a while on a busy machine
});
