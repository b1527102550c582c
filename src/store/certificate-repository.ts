import type { IssuedCertificate } from '../domain/certificate';
import { reasonCode, reasonFromCode } from '../domain/revocation-reasons';
import type { Certificate as CertificateRow } from '../generated/prisma/client';
import { ledgerCall } from './ledger-errors';
import type { PrismaClient } from './prisma-client';
import type { SqlRunner } from './sql';

export function toIssuedCertificate(row: CertificateRow): IssuedCertificate {
  return {
    serialNumber: row.serialNumber,
    account: row.account,
    commonName: row.commonName,
    subject: row.subject,
    publicKeySha256: row.publicKeySha256,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    issuerKeyId: row.issuerKeyId,
    pem: row.pem,
    issuedAt: row.issuedAt,
    requestedBy: row.requestedBy,
    revocation:
      row.revokedAt && row.revocationReason !== null
        ? { revokedAt: row.revokedAt, reason: reasonFromCode(row.revocationReason), revokedBy: row.revokedBy ?? '' }
        : null,
  };
}

function toRow(cert: IssuedCertificate): CertificateRow {
  return {
    serialNumber: cert.serialNumber,
    account: cert.account,
    commonName: cert.commonName,
    subject: cert.subject,
    publicKeySha256: cert.publicKeySha256,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    issuerKeyId: cert.issuerKeyId,
    pem: cert.pem,
    issuedAt: cert.issuedAt,
    requestedBy: cert.requestedBy,
    revokedAt: cert.revocation?.revokedAt ?? null,
    revocationReason: cert.revocation ? reasonCode(cert.revocation.reason) : null,
    revokedBy: cert.revocation?.revokedBy ?? null,
  };
}

/** The certificate ledger: every issued certificate, its revocation, and the queries over them. */
export class CertificateRepository {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sql: SqlRunner,
  ) {}

  /** Commits one issued certificate. Resolves only after the row is durable. */
  async insert(cert: IssuedCertificate): Promise<void> {
    await ledgerCall('recording the certificate', () => this.prisma.certificate.create({ data: toRow(cert) }));
  }

  async findBySerial(serialNumber: string): Promise<IssuedCertificate | null> {
    const row = await ledgerCall('reading a certificate', () => this.prisma.certificate.findUnique({ where: { serialNumber } }));
    return row ? toIssuedCertificate(row) : null;
  }

  async count(): Promise<number> {
    return ledgerCall('counting certificates', () => this.prisma.certificate.count());
  }

  /** For the raw queries of later features (CRL streaming). */
  protected get raw(): SqlRunner {
    return this.sql;
  }
}
