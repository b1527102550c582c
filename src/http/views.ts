import type { CertificateStatus, IssuedCertificate } from '../domain/certificate';

/** The JSON shape of a ledger entry. */
export function certificateView(c: IssuedCertificate & { status: CertificateStatus }) {
  return {
    serialNumber: c.serialNumber,
    account: c.account,
    commonName: c.commonName,
    subject: c.subject,
    status: c.status,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    issuedAt: c.issuedAt.toISOString(),
    revokedAt: c.revocation ? c.revocation.revokedAt.toISOString() : null,
    reason: c.revocation ? c.revocation.reason : null,
  };
}
