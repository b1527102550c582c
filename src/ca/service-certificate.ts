import { createHash, KeyObject } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  type Extension,
} from '@peculiar/x509';
import type { IssuedCertificate } from '../domain/certificate';
import type { Clock } from '../domain/clock';
import { subjectKeyIdentifier } from '../domain/issuance-profile';
import { SYSTEM_ACCOUNT } from '../domain/permissions';
import { serialToHex, type SerialSource } from '../domain/serial-number';
import type { CertificateAuthority } from './certificate-authority';
import { tbsCertificate } from './certificate-template';
import { encodeSubject, type SubjectAttributes } from './subject-name';

/** What a certificate of the service's own needs besides the common profile. */
export interface ServiceCertificateRequest {
  readonly subject: SubjectAttributes;
  readonly commonName: string;
  /** Extensions after basicConstraints and keyUsage (EKU, SAN, …); SKI and AKI are added after them. */
  readonly extensions: readonly Extension[];
  readonly validityMs: number;
  /** The ledger's `requestedBy`, e.g. `system:tls-server`. */
  readonly requestedBy: string;
}

export interface ServiceCertificate {
  /** The private key (in memory only). */
  readonly key: KeyObject;
  readonly spkiDer: Buffer;
  readonly certificate: X509Certificate;
  readonly pem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Its ledger entry, under the reserved system account. */
  readonly record: IssuedCertificate;
}

/**
 * Issues a certificate to the service itself (its TLS server identity, its delegated OCSP signer): a new
 * P-256 key kept in memory only, a non-CA end-entity profile with digitalSignature, signed through the
 * CA's signer, backdated 5 minutes for clock skew and never outliving the CA.
 */
export async function issueServiceCertificate(
  ca: CertificateAuthority,
  crypto: Crypto,
  clock: Clock,
  serials: SerialSource,
  request: ServiceCertificateRequest,
): Promise<ServiceCertificate> {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spkiDer = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  const now = clock.now();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 300_000);
  const notAfter = new Date(Math.min(now.getTime() + request.validityMs, ca.notAfter.getTime()));
  const serialNumber = serials.next();
  const extensions = [
    new BasicConstraintsExtension(false, undefined, true),
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
    ...request.extensions,
    new SubjectKeyIdentifierExtension(subjectKeyIdentifier(spkiDer), false),
    new AuthorityKeyIdentifierExtension(ca.keyId, false),
  ].map((e) => Buffer.from(e.rawData));
  const tbs = tbsCertificate({
    serialNumber,
    signatureAlgorithmDer: ca.signatureAlgorithmDer,
    issuerDer: ca.issuerDer,
    validity: { notBefore, notAfter },
    subjectDer: encodeSubject(request.subject),
    spkiDer,
    extensions,
  });
  const certificate = new X509Certificate(new Uint8Array(await ca.signCertificate(tbs)));
  const pem = `${certificate.toString('pem')}\n`;
  return {
    key: KeyObject.from(keys.privateKey),
    spkiDer,
    certificate,
    pem,
    notBefore,
    notAfter,
    record: {
      serialNumber: serialToHex(serialNumber),
      account: SYSTEM_ACCOUNT,
      commonName: request.commonName,
      subject: certificate.subject,
      publicKeySha256: createHash('sha256').update(spkiDer).digest('hex'),
      notBefore,
      notAfter,
      issuerKeyId: ca.keyId,
      pem,
      issuedAt: now,
      requestedBy: request.requestedBy,
      revocation: null,
    },
  };
}
