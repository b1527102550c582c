import { bigInteger, children, content, encodeLength, objectIdentifier, octetString, readTlv, sequence, smallInteger, time, tlv } from './der';
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

/**
 * TBSCertList (v2, with the AKI and CRL number extensions) as a list of parts: the entries are not
 * copied, so a 40 MB list is hashed and written out without intermediate copies.
 */
export function tbsCertListParts(p: CrlParams): Buffer[] {
  const aki = sequence(objectIdentifier(OID.authorityKeyIdentifier), octetString(sequence(tlv(0x80, Buffer.from(p.authorityKeyId, 'hex')))));
  const crlNumber = sequence(objectIdentifier(OID.crlNumber), octetString(bigInteger(p.crlNumber)));
  const head = Buffer.concat([smallInteger(1), p.signatureAlgorithmDer, p.issuerDer, time(p.thisUpdate), time(p.nextUpdate)]);
  const extensions = tlv(0xa0, sequence(aki, crlNumber));
  // An empty revokedCertificates list is left out, not encoded empty.
  const list = p.entries.length > 0 ? [header(0x30, p.entries.length), Buffer.from(p.entries.buffer, p.entries.byteOffset, p.entries.byteLength)] : [];
  const bodyLength = head.length + list.reduce((n, b) => n + b.length, 0) + extensions.length;
  return [header(0x30, bodyLength), head, ...list, extensions];
}

function header(tag: number, length: number): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(length)]);
}

/**
 * CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }.
 * `sign` receives the TBSCertList as parts (hash them in order) and returns the signature value.
 */
export async function buildCrl(p: CrlParams, sign: (tbsParts: Buffer[]) => Promise<Buffer>): Promise<{ der: Buffer; signature: Buffer }> {
  const tbs = tbsCertListParts(p);
  const signature = await sign(tbs);
  return { der: assembleCrl(tbs, p.signatureAlgorithmDer, signature), signature };
}

/** Frames a TBSCertList (as parts) and its signature value into the DER CertificateList. */
export function assembleCrl(tbs: Buffer[], signatureAlgorithmDer: Uint8Array, signatureValue: Uint8Array): Buffer {
  const signature = tlv(0x03, Buffer.from([0]), signatureValue);
  const tbsLength = tbs.reduce((n, b) => n + b.length, 0);
  const total = tbsLength + signatureAlgorithmDer.length + signature.length;
  return Buffer.concat([header(0x30, total), ...tbs, signatureAlgorithmDer, signature], encodeLength(total).length + 1 + total);
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
