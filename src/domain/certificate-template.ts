import { createHash } from 'node:crypto';
import { objectIdentifier, octetString, sequence, time, tlv, unsignedInteger } from './der';
import type { IssuanceProfile, Validity } from './issuance-profile';
import { OID } from './oids';

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
  readonly subjectDer: Uint8Array;
  readonly spkiDer: Uint8Array;
  readonly keyType: 'RSA' | 'EC';
}

const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const SKI_OID = objectIdentifier(OID.subjectKeyIdentifier);

/**
 * The issuance profile pre-encoded once per CA: issuer, signature algorithm and every constant
 * extension are DER bytes ready to splice; a TBSCertificate is assembled from the few varying parts
 * (serial, validity, subject, public key, its key identifier). Produces exactly the bytes
 * @peculiar/x509's X509CertificateGenerator would (see the differential test).
 */
export class CertificateTemplate {
  private readonly middle: Buffer;
  private readonly leadingExtensions: Record<'RSA' | 'EC', Buffer>;
  private readonly trailingExtensions: Buffer;

  constructor(issuer: TemplateIssuer, profile: IssuanceProfile) {
    this.middle = Buffer.concat([issuer.signatureAlgorithmDer, issuer.issuerDer]);
    // The profile builds the extensions with @peculiar/x509; their encodings are taken as they are.
    // The SKI (4th) is the only one that varies; a placeholder key is used to find the rest.
    const placeholderSpki = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex');
    const encode = (keyType: 'RSA' | 'EC') =>
      profile.extensions(placeholderSpki, keyType, issuer.keyId).map((e) => Buffer.from(e.rawData));
    const rsa = encode('RSA');
    const ec = encode('EC');
    this.leadingExtensions = { RSA: Buffer.concat(rsa.slice(0, 3)), EC: Buffer.concat(ec.slice(0, 3)) };
    this.trailingExtensions = Buffer.concat(ec.slice(4));
  }

  /** The DER TBSCertificate for one certificate. */
  tbs(inputs: TbsInputs): Buffer {
    const ski = sequence(SKI_OID, octetString(octetString(subjectKeyIdentifierBytes(inputs.spkiDer))));
    const extensions = tlv(0xa3, sequence(this.leadingExtensions[inputs.keyType], ski, this.trailingExtensions));
    return sequence(
      VERSION_V3,
      unsignedInteger(inputs.serialNumber),
      this.middle,
      sequence(time(inputs.validity.notBefore), time(inputs.validity.notAfter)),
      inputs.subjectDer,
      inputs.spkiDer,
      extensions,
    );
  }
}

/** RFC 5280 method 1 over a SubjectPublicKeyInfo: SHA-1 of the key bits (skipping SPKI framing). */
function subjectKeyIdentifierBytes(spkiDer: Uint8Array): Buffer {
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
