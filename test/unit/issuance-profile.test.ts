import { IssuanceProfile } from '../../src/domain/issuance-profile';

const now = new Date('2026-01-10T12:00:00.500Z');
const profile = (over: Partial<ConstructorParameters<typeof IssuanceProfile>[0]> = {}) =>
  new IssuanceProfile({ validityDays: 365, maxValidityDays: 825, backdateSeconds: 300, publicBaseUrl: 'https://ca.example', ...over });

describe('the issuance profile', () => {
  it('backdates notBefore by the skew and truncates to seconds', () => {
    const v = profile().validity(now, new Date('2036-01-01T00:00:00Z'));
    expect(v.notBefore.toISOString()).toBe('2026-01-10T11:55:00.000Z');
    expect(v.notAfter.toISOString()).toBe('2027-01-10T12:00:00.000Z');
  });

  it('caps the validity by CERT_MAX_VALIDITY_DAYS', () => {
    const v = profile({ validityDays: 1000, maxValidityDays: 30 }).validity(now, new Date('2036-01-01T00:00:00Z'));
    expect(v.notAfter.toISOString()).toBe('2026-02-09T12:00:00.000Z');
  });

  it("caps the validity by the CA's own notAfter", () => {
    const caNotAfter = new Date('2026-03-01T00:00:00Z');
    expect(profile().validity(now, caNotAfter).notAfter.toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });

  it('points at the CRL and the CA certificate under the public base URL', () => {
    expect(profile().crlUrl).toBe('https://ca.example/crl');
    expect(profile().caIssuersUrl).toBe('https://ca.example/ca.crt');
  });
});
