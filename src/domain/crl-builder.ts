import { bigInteger, children, content, objectIdentifier, octetString, readTlv, sequence, smallInteger, time, tlv } from './der';
import { OID } from './oids';

/**
 * Frames and signs X.509 v2 CRLs around a ready-made revokedCertificates list (concatenated DER
 * entries: the ledger encodes them, see store/crl-repository). Appending revocations to a signed CRL
 * is a matter of taking its entry bytes (crlEntries) and framing them again with the new ones.
 */

export interface CrlParams {
  /** The CA's subject Name, DER, exactly as in its certificate. */
  readonly issuerDer: Uint8Array;
  /** DER AlgorithmIdentifier of the CA's signature. */
  readonly signatureAlgorithmDer: Uint8Array;
  /** Hex subject key identifier of the CA key (the AKI extension). */
  readonly authorityKeyId: string;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Concatenated encoded revokedCertificates entries. */
  readonly entries: Uint8Array;
}

/** TBSCertList, v2, with the AKI and CRL number extensions. */
export function encodeTbsCertList(p: CrlParams): Buffer {
  const aki = sequence(objectIdentifier(OID.authorityKeyIdentifier), octetString(sequence(tlv(0x80, Buffer.from(p.authorityKeyId, 'hex')))));
  const crlNumber = sequence(objectIdentifier(OID.crlNumber), octetString(bigInteger(p.crlNumber)));
  const parts: Uint8Array[] = [smallInteger(1), p.signatureAlgorithmDer, p.issuerDer, time(p.thisUpdate), time(p.nextUpdate)];
  if (p.entries.length > 0) parts.push(sequence(p.entries)); // an empty list is omitted, not encoded empty
  parts.push(tlv(0xa0, sequence(aki, crlNumber)));
  return sequence(...parts);
}

/** CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING } */
export function assembleCrl(tbs: Uint8Array, signatureAlgorithmDer: Uint8Array, signature: Uint8Array): Buffer {
  return sequence(tbs, signatureAlgorithmDer, tlv(0x03, Buffer.from([0]), signature));
}

export function buildCrl(p: CrlParams, sign: (tbs: Buffer) => Buffer): Buffer {
  const tbs = encodeTbsCertList(p);
  return assembleCrl(tbs, p.signatureAlgorithmDer, sign(tbs));
}

/** The concatenated revokedCertificates entries of a DER CRL (empty when it lists none). */
export function crlEntries(der: Uint8Array): Buffer {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const [tbs] = children(buf, readTlv(buf, 0));
  const fields = children(buf, tbs);
  // version, signature, issuer, thisUpdate, nextUpdate?, revokedCertificates?, [0] extensions?
  const list = fields.slice(4).find((f) => f.tag === 0x30);
  return list ? content(buf, list) : Buffer.alloc(0);
}
