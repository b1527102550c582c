import { X509Certificate } from 'node:crypto';
import type { CertificateAuthority } from './certificate-authority';

/**
 * The CA of this service that issued `certificate`, or null: its issuer Name is the CA's subject and its
 * signature verifies with the CA's key. The one place that answers "issued by this CA?" (renewal);
 * with several issuers it becomes "which of this CA's issuers".
 */
export function issuingCa(certificate: X509Certificate, ca: CertificateAuthority): CertificateAuthority | null {
  const caCertificate = new X509Certificate(ca.certificateDer);
  try {
    return certificate.checkIssued(caCertificate) && certificate.verify(caCertificate.publicKey) ? ca : null;
  } catch {
    return null;
  }
}
