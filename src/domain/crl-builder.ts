import { bigInteger, objectIdentifier, octetString, sequence, smallInteger, time, tlv } from './der';
import { OID } from './oids';

/**
 * Builds X.509 v2 CRLs straight to DER. Entries are appended into one growing buffer (no per-entry
 * objects), so a million entries cost one pass; the TBSCertList is then framed around them and signed.
 */

/** Bytes of one revokedCertificates entry: SEQUENCE { serial, revocationDate [, { reasonCode }] }. */
export class CrlEntryWriter {
  private buf: Buffer;
  private length = 0;
  private count = 0;

  constructor(expectedEntries = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(64, expectedEntries * 52));
  }

  get entries(): number {
    return this.count;
  }

  get byteLength(): number {
    return this.length;
  }

  /**
   * @param serialHex canonical serial (uppercase hex, even length, minimal, positive)
   * @param revokedAtMs revocation time, ms since epoch (encoded to the second)
   * @param reasonCode RFC 5280 CRLReason; 0 (unspecified) is omitted as RFC 5280 recommends
   */
  append(serialHex: string, revokedAtMs: number, reasonCode: number): void {
    const serialLength = serialHex.length >> 1;
    const withReason = reasonCode !== 0;
    const date = new Date(revokedAtMs);
    const year = date.getUTCFullYear();
    const generalized = year < 1950 || year >= 2050;
    const timeLength = generalized ? 15 : 13;
    const body = 2 + serialLength + 2 + timeLength + (withReason ? 14 : 0);
    if (serialLength > 126 || body > 127) throw new Error('CRL entry too long');
    this.reserve(body + 2);
    const b = this.buf;
    let p = this.length;
    b[p++] = 0x30;
    b[p++] = body;
    b[p++] = 0x02;
    b[p++] = serialLength;
    p += b.write(serialHex, p, serialLength, 'hex');
    b[p++] = generalized ? 0x18 : 0x17;
    b[p++] = timeLength;
    p = writeTime(b, p, date, generalized);
    if (withReason) {
      // Extensions { Extension { id-ce-cRLReasons, OCTET STRING { ENUMERATED code } } }
      b[p++] = 0x30; b[p++] = 0x0c;
      b[p++] = 0x30; b[p++] = 0x0a;
      b[p++] = 0x06; b[p++] = 0x03; b[p++] = 0x55; b[p++] = 0x1d; b[p++] = 0x15;
      b[p++] = 0x04; b[p++] = 0x03; b[p++] = 0x0a; b[p++] = 0x01; b[p++] = reasonCode;
    }
    this.length = p;
    this.count++;
  }

  /** Appends entries already encoded by another writer (re-signing after an append). */
  appendEncoded(encoded: Uint8Array, count: number): void {
    this.reserve(encoded.length);
    this.buf.set(encoded, this.length);
    this.length += encoded.length;
    this.count += count;
  }

  /** The encoded entries (a view, valid until the next append). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

const two = (b: Buffer, p: number, n: number): number => {
  b[p] = 0x30 + ((n / 10) | 0);
  b[p + 1] = 0x30 + (n % 10);
  return p + 2;
};

function writeTime(b: Buffer, p: number, d: Date, generalized: boolean): number {
  const y = d.getUTCFullYear();
  if (generalized) {
    p = two(b, p, (y / 100) | 0);
  }
  p = two(b, p, y % 100);
  p = two(b, p, d.getUTCMonth() + 1);
  p = two(b, p, d.getUTCDate());
  p = two(b, p, d.getUTCHours());
  p = two(b, p, d.getUTCMinutes());
  p = two(b, p, d.getUTCSeconds());
  b[p++] = 0x5a; // 'Z'
  return p;
}

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
  /** Concatenated encoded entries (CrlEntryWriter.bytes()). */
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
