import { createHash, sign as nodeSign } from 'node:crypto';
import { ExtendedKeyUsageExtension, Extension } from '@peculiar/x509';
import type { Clock } from '../domain/clock';
import { children, content, readTlv, NULL } from '../domain/der';
import { OCSP_OID } from '../domain/ocsp';
import { OID } from '../domain/oids';
import type { IssuedCertificate } from '../domain/certificate';
import type { CertificateAuthority } from './certificate-authority';
import { issueServiceCertificate } from './service-certificate';
import type { SerialSource } from '../domain/serial-number';

/** Who signs OCSP responses: a delegated OCSP-signing certificate, or the CA key itself. */
export interface OcspSigningIdentity {
  /** The signature value over a ResponseData. */
  sign(data: Buffer): Promise<Buffer>;
  readonly signatureAlgorithmDer: Uint8Array;
  /** SHA-1 of the signer's public key bits (ResponderID byKey). */
  readonly keyHash: Buffer;
  /** The delegated certificate to include in responses; null when the CA signs. */
  readonly certificateDer: Buffer | null;
  /** When the identity must be replaced (never, for the CA itself). */
  readonly notAfter: Date | null;
  /** The ledger entry of the delegated certificate (null when the CA signs). */
  readonly record: IssuedCertificate | null;
}

/** SHA-1 of the subjectPublicKey bits of a SubjectPublicKeyInfo. */
export function publicKeyHash(spkiDer: Uint8Array, algorithm = 'sha1'): Buffer {
  const buf = Buffer.from(spkiDer.buffer, spkiDer.byteOffset, spkiDer.byteLength);
  const [, bits] = children(buf, readTlv(buf, 0));
  return createHash(algorithm).update(content(buf, bits).subarray(1)).digest();
}

/** OCSP_SIGN_WITH_CA: answers are signed by the CA key, through its signer (a token signs them too). */
export function caSigningIdentity(ca: CertificateAuthority): OcspSigningIdentity {
  return {
    sign: (data) => ca.signTbs([data]),
    signatureAlgorithmDer: ca.signatureAlgorithmDer,
    keyHash: publicKeyHash(ca.signer.spkiDer),
    certificateDer: null,
    notAfter: null,
    record: null,
  };
}

const ECDSA_WITH_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex');

/**
 * Issues a fresh delegated OCSP signer: a new P-256 key (kept in memory only) and a short-lived
 * certificate from the CA with EKU OCSPSigning and id-pkix-ocsp-nocheck, signed through the CA's
 * signer. Each replica has its own.
 */
export async function issueOcspSigner(ca: CertificateAuthority, crypto: Crypto, clock: Clock, serials: SerialSource, validityMs: number): Promise<OcspSigningIdentity> {
  const commonName = `${ca.certificate.subjectName.getField('CN')[0] ?? 'mtls-ca'} OCSP Responder`;
  const issued = await issueServiceCertificate(ca, crypto, clock, serials, {
    subject: { CN: commonName },
    commonName,
    extensions: [new ExtendedKeyUsageExtension([OID.ocspSigning], false), new Extension(OCSP_OID.noCheck, false, NULL)],
    validityMs,
    requestedBy: 'system:ocsp-signer',
  });
  const key = issued.key;
  return {
    sign: async (data) => nodeSign('sha256', data, { key, dsaEncoding: 'der' }),
    signatureAlgorithmDer: ECDSA_WITH_SHA256,
    keyHash: publicKeyHash(issued.spkiDer),
    certificateDer: Buffer.from(issued.certificate.rawData),
    notAfter: issued.notAfter,
    record: issued.record,
  };
}
