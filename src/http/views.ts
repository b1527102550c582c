import type { Response } from 'express';
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

/** The answer of a signing or a renewal: the PEM, or with `Accept: application/json` the certificate's fields, chain included. */
export function issuedAnswer(
  /** What content negotiation chose among text/plain, application/x-pem-file and application/json. */
  format: string,
  issued: IssuedCertificate,
  chainPem: string,
  extra: Record<string, unknown> = {},
): { headers: { Location: string; Vary: string; 'Content-Type': string }; body: string } {
  const headers = { Location: `/private-certificates/${encodeURIComponent(issued.serialNumber)}`, Vary: 'Accept' };
  if (format === 'application/json') {
    const body = JSON.stringify({
      serialNumber: issued.serialNumber,
      ...extra,
      certificate: issued.pem,
      chain: chainPem,
      subject: issued.subject,
      account: issued.account,
      commonName: issued.commonName,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
    });
    return { headers: { ...headers, 'Content-Type': 'application/json; charset=utf-8' }, body };
  }
  return { headers: { ...headers, 'Content-Type': `${format}; charset=utf-8` }, body: issued.pem };
}

/** Sends issuedAnswer through Express. */
export function sendIssued(res: Response, format: string, issued: IssuedCertificate, chainPem: string, extra: Record<string, unknown> = {}): void {
  const { headers, body } = issuedAnswer(format, issued, chainPem, extra);
  res.set(headers).send(body);
}
