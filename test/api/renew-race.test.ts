import { X509Certificate } from 'node:crypto';
import { backends } from '../helpers/backends';
import { issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

jest.setTimeout(180_000);

/**
 * Security review: a certificate renews once (commit 16042c3). Without RENEW_MIN_INTERVAL_SECONDS (0) the
 * rate limiter does not serialise renewals of one serial, so only the row lock in insertRenewal stands
 * between concurrent renewals and two live successors of one (possibly stolen) certificate.
 */
describe.each(backends())('concurrent renewals of one certificate (%s)', (backend) => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService(backend, { env: { CLIENT_CERT_HEADER: 'X-Client-Cert', TRUST_PROXY: 'loopback', RENEW_MIN_INTERVAL_SECONDS: '0' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('issues one successor: every same-key request gets it or a 409, none a second certificate', async () => {
    const old = await issue(t, t.admin, '/CN=race-app/OU=acme');
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => t.http.post('/private-certificates/renew').set('X-Client-Cert', encodeURIComponent(old.pem))),
    );
    for (const a of answers) expect([200, 409]).toContain(a.status);
    const serials = new Set(answers.filter((a) => a.status === 200).map((a) => new X509Certificate(a.text).serialNumber.toUpperCase()));
    expect(serials.size).toBe(1);
    const renewed = await t.http.get('/private-certificates').set(t.admin).query({ limit: '1000' });
    expect(renewed.status).toBe(200);
    const successors = (renewed.body.items as { renewedFrom?: string | null }[]).filter((c) => c.renewedFrom === old.serialNumber);
    expect(successors).toHaveLength(1);
  });
});
