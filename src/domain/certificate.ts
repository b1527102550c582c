import type { RevocationReason } from './revocation-reasons';

export interface Revocation {
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
  readonly revokedBy: string;
}

/** One certificate in the ledger. */
export interface IssuedCertificate {
  /** Canonical uppercase hex, no colons. */
  readonly serialNumber: string;
  readonly account: string;
  readonly commonName: string;
  readonly subject: string;
  readonly publicKeySha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Hex subject key identifier of the issuing CA key. */
  readonly issuerKeyId: string;
  readonly pem: string;
  readonly issuedAt: Date;
  /** appKey of the API key that asked for it. */
  readonly requestedBy: string;
  readonly revocation: Revocation | null;
  /** Serial of the certificate this one renews (POST /private-certificates/renew); absent or null otherwise. */
  readonly renewedFrom?: string | null;
}

export type CertificateStatus = 'valid' | 'revoked' | 'expired';

export function certificateStatus(cert: Pick<IssuedCertificate, 'revocation' | 'notAfter'>, now: Date): CertificateStatus {
  if (cert.revocation) return 'revoked';
  if (cert.notAfter.getTime() <= now.getTime()) return 'expired';
  return 'valid';
}
