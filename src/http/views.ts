import type { AuditRecord } from '../domain/audit-event';
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
    renewedFrom: c.renewedFrom ?? null,
  };
}

/** The JSON shape of an audit record: every hashed field, so anyone can recompute the chain. */
export function auditRecordView(r: AuditRecord) {
  return {
    seq: r.seq,
    time: r.time.toISOString(),
    action: r.action,
    outcome: r.outcome,
    problem: r.problem,
    actor: r.actor,
    account: r.account,
    serialNumber: r.serialNumber,
    requestId: r.requestId,
    clientIp: r.clientIp,
    details: r.details,
    prevHash: r.prevHash,
    hash: r.hash,
  };
}
