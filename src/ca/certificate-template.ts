import { createHash } from 'node:crypto';
import { headerLength, objectIdentifier, sequence, time, tlv, unsignedInteger, writeHeader } from '../domain/der';
import type { IssuanceProfile, Validity } from '../domain/issuance-profile';
import { OID } from '../domain/oids';

/** The CA-side inputs that never change between certificates. */
export interface TemplateIssuer {
  /** The CA's subject Name DER (the issuer of everything it signs). */
  readonly issuerDer: Uint8Array;
  readonly signatureAlgorithmDer: Uint8Array;
  /** Hex SKI of the CA key. */
  readonly keyId: string;
}

/** What varies per certificate. */
export interface TbsInputs {
  readonly serialNumber: Uint8Array;
  readonly validity: Validity;
  /** The subject Name, DER (re-encoded, see subject-name). */
  readonly subjectDer: Uint8Array;
  readonly spkiDer: Uint8Array;
  readonly keyType: 'RSA' | 'EC';
  /** subjectKeyIdentifierBytes(spkiDer), when the caller has it already. */
  readonly subjectKeyId?: Uint8Array;
}

export type KeyType = TbsInputs['keyType'];

export const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const SKI_OID = objectIdentifier(OID.subjectKeyIdentifier);
/** Any SPKI: the SKI is the only extension that depends on the key, and it is computed per certificate. */
const PLACEHOLDER_SPKI = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex');

/** One extension of the profile: its OID and DER (null for the SKI, which is computed from each key). */
export interface ProfileExtension {
  readonly oid: string;
  readonly der: Buffer | null;
}

/**
 * The issuance profile pre-encoded once per CA: issuer, signature algorithm and every constant
 * extension are DER bytes ready to splice; a TBSCertificate is assembled from the few varying parts
 * (serial, validity, subject, public key, its key identifier). Produces exactly the bytes
 * @peculiar/x509's X509CertificateGenerator would (see the differential test).
 */
export class CertificateTemplate {
  private readonly middle: Buffer;
  private readonly around: Record<KeyType, { before: Buffer; after: Buffer }>;
  /** The profile's extensions per key type, in encoding order, by OID. */
  readonly extensions: Record<KeyType, readonly ProfileExtension[]>;

  constructor(issuer: TemplateIssuer, profile: IssuanceProfile) {
    this.middle = Buffer.concat([issuer.signatureAlgorithmDer, issuer.issuerDer]);
    // The profile builds the extensions with @peculiar/x509; their encodings are taken as they are.
    const encode = (keyType: KeyType): ProfileExtension[] =>
      profile.extensions(PLACEHOLDER_SPKI, keyType, issuer.keyId).map((e) => ({
        oid: e.type,
        der: e.type === OID.subjectKeyIdentifier ? null : Buffer.from(e.rawData),
      }));
    this.extensions = { RSA: encode('RSA'), EC: encode('EC') };
    const split = (list: readonly ProfileExtension[]) => {
      const at = list.findIndex((e) => e.oid === OID.subjectKeyIdentifier);
      if (at < 0) throw new Error('the issuance profile has no subjectKeyIdentifier extension');
      const join = (part: readonly ProfileExtension[]) => Buffer.concat(part.map((e) => e.der!));
      return { before: join(list.slice(0, at)), after: join(list.slice(at + 1)) };
    };
    this.around = { RSA: split(this.extensions.RSA), EC: split(this.extensions.EC) };
  }

  /** The DER TBSCertificate for one certificate, written in one pass (the signing hot path). */
  tbs(inputs: TbsInputs): Buffer {
    const { before, after } = this.around[inputs.keyType];
    const keyId = inputs.subjectKeyId ?? subjectKeyIdentifierBytes(inputs.spkiDer);
    const serial = unsignedInteger(inputs.serialNumber);
    const notBefore = time(inputs.validity.notBefore);
    const notAfter = time(inputs.validity.notAfter);
    // SKI extension: SEQUENCE { OID, OCTET STRING { OCTET STRING keyId } }
    const skiValue = headerLength(keyId.length) + keyId.length;
    const skiOctets = headerLength(skiValue) + skiValue;
    const skiBody = SKI_OID.length + skiOctets;
    const extensionsBody = before.length + headerLength(skiBody) + skiBody + after.length;
    const extensionsSequence = headerLength(extensionsBody) + extensionsBody;
    const validityBody = notBefore.length + notAfter.length;
    const body =
      VERSION_V3.length +
      serial.length +
      this.middle.length +
      headerLength(validityBody) +
      validityBody +
      inputs.subjectDer.length +
      inputs.spkiDer.length +
      headerLength(extensionsSequence) +
      extensionsSequence;
    const out = Buffer.allocUnsafe(headerLength(body) + body);
    let p = writeHeader(out, 0, 0x30, body);
    const put = (bytes: Uint8Array) => {
      out.set(bytes, p);
      p += bytes.length;
    };
    put(VERSION_V3);
    put(serial);
    put(this.middle);
    p = writeHeader(out, p, 0x30, validityBody);
    put(notBefore);
    put(notAfter);
    put(inputs.subjectDer);
    put(inputs.spkiDer);
    p = writeHeader(out, p, 0xa3, extensionsSequence);
    p = writeHeader(out, p, 0x30, extensionsBody);
    put(before);
    p = writeHeader(out, p, 0x30, skiBody);
    put(SKI_OID);
    p = writeHeader(out, p, 0x04, skiValue);
    p = writeHeader(out, p, 0x04, keyId.length);
    put(keyId);
    put(after);
    return out;
  }
}

/** The fields of a TBSCertificate outside the client profile (the root, the delegated OCSP signer). */
export interface TbsCertificateParts {
  readonly serialNumber: Uint8Array;
  readonly signatureAlgorithmDer: Uint8Array;
  readonly issuerDer: Uint8Array;
  readonly validity: Validity;
  readonly subjectDer: Uint8Array;
  readonly spkiDer: Uint8Array;
  /** Each extension's DER, in order. */
  readonly extensions: readonly Uint8Array[];
}

/** A v3 TBSCertificate from its fields. */
export function tbsCertificate(p: TbsCertificateParts): Buffer {
  return sequence(
    VERSION_V3,
    unsignedInteger(p.serialNumber),
    p.signatureAlgorithmDer,
    p.issuerDer,
    sequence(time(p.validity.notBefore), time(p.validity.notAfter)),
    p.subjectDer,
    p.spkiDer,
    tlv(0xa3, sequence(...p.extensions)),
  );
}

/** RFC 5280 method 1 over a SubjectPublicKeyInfo: SHA-1 of the key bits (skipping SPKI framing). */
export function subjectKeyIdentifierBytes(spkiDer: Uint8Array): Buffer {
  // SPKI = SEQ { AlgorithmIdentifier SEQ, BIT STRING }; walk two headers without allocating objects.
  let p = headerEnd(spkiDer, 0);
  p = skip(spkiDer, p); // AlgorithmIdentifier
  const bitsContent = headerEnd(spkiDer, p);
  const end = skip(spkiDer, p);
  return createHash('sha1').update(spkiDer.subarray(bitsContent + 1, end)).digest();
}

function lengthAt(buf: Uint8Array, p: number): [number, number] {
  const first = buf[p + 1];
  if (first < 0x80) return [first, p + 2];
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[p + 2 + i];
  return [len, p + 2 + n];
}

const headerEnd = (buf: Uint8Array, p: number): number => lengthAt(buf, p)[1];
const skip = (buf: Uint8Array, p: number): number => {
  const [len, start] = lengthAt(buf, p);
  return start + len;
};
