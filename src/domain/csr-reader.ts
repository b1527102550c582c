import { children, content, decodeObjectIdentifier, DerError, readTlv, slice, type Tlv } from './der';

/**
 * Takes a PKCS#10 CertificationRequest apart without re-encoding anything: the exact bytes of the
 * signed CertificationRequestInfo, the subject Name and the SubjectPublicKeyInfo, plus the few values
 * the policy looks at. Strict DER: one outer SEQUENCE and nothing after it.
 */
export interface CsrParts {
  /** CertificationRequestInfo, as signed. */
  readonly infoDer: Buffer;
  readonly version: number;
  readonly subjectDer: Buffer;
  readonly subject: ReadonlyArray<ReadonlyArray<{ type: string; tag: number; value: Buffer }>>;
  readonly spkiDer: Buffer;
  readonly keyAlgorithm: string;
  /** The AlgorithmIdentifier parameters of the key (DER), if any. */
  readonly keyParametersDer: Buffer | null;
  /** subjectPublicKey BIT STRING content without the unused-bits byte. */
  readonly publicKeyBits: Buffer;
  readonly signatureAlgorithm: string;
  readonly signatureParametersDer: Buffer | null;
  readonly signature: Buffer;
}

function expect(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (!tlv || tlv.tag !== tag) throw new DerError(`malformed ${what}`);
  return tlv;
}

function algorithm(buf: Buffer, tlv: Tlv, what: string): { oid: string; params: Buffer | null } {
  const [oid, params, extra] = children(buf, expect(tlv, 0x30, what));
  if (extra) throw new DerError(`malformed ${what}`);
  return { oid: decodeObjectIdentifier(slice(buf, expect(oid, 0x06, what))), params: params ? slice(buf, params) : null };
}

function bitStringBytes(buf: Buffer, tlv: Tlv, what: string): Buffer {
  const bytes = content(buf, expect(tlv, 0x03, what));
  if (bytes.length < 1 || bytes[0] !== 0) throw new DerError(`malformed ${what}`);
  return bytes.subarray(1);
}

export function readCsr(der: Buffer): CsrParts {
  const outer = expect(readTlv(der, 0), 0x30, 'CertificationRequest');
  if (outer.end !== der.length) throw new DerError('trailing bytes after the CertificationRequest');
  const [info, sigAlg, sig, extra] = children(der, outer);
  if (extra) throw new DerError('malformed CertificationRequest');
  const [version, subject, spki, attributes, more] = children(der, expect(info, 0x30, 'CertificationRequestInfo'));
  if (more || (attributes && attributes.tag !== 0xa0)) throw new DerError('malformed CertificationRequestInfo');
  const versionBytes = content(der, expect(version, 0x02, 'version'));
  if (versionBytes.length !== 1) throw new DerError('malformed version');

  const rdns = children(der, expect(subject, 0x30, 'subject')).map((set) =>
    children(der, expect(set, 0x31, 'RelativeDistinguishedName')).map((atv) => {
      const [type, value, rest] = children(der, expect(atv, 0x30, 'AttributeTypeAndValue'));
      if (!value || rest) throw new DerError('malformed AttributeTypeAndValue');
      return { type: decodeObjectIdentifier(slice(der, expect(type, 0x06, 'attribute type'))), tag: value.tag, value: content(der, value) };
    }),
  );

  const [keyAlg, keyBits, spkiExtra] = children(der, expect(spki, 0x30, 'SubjectPublicKeyInfo'));
  if (spkiExtra) throw new DerError('malformed SubjectPublicKeyInfo');
  const key = algorithm(der, keyAlg, 'public key algorithm');
  const signature = algorithm(der, sigAlg, 'signature algorithm');
  return {
    infoDer: slice(der, info),
    version: versionBytes[0],
    subjectDer: slice(der, subject),
    subject: rdns,
    spkiDer: slice(der, spki),
    keyAlgorithm: key.oid,
    keyParametersDer: key.params,
    publicKeyBits: bitStringBytes(der, keyBits, 'subjectPublicKey'),
    signatureAlgorithm: signature.oid,
    signatureParametersDer: signature.params,
    signature: bitStringBytes(der, sig, 'signature'),
  };
}

/** With the u flag a well-formed surrogate pair is one code point: this matches unpaired halves only. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Decodes an X.520 string value by its tag; null for a tag that is not an accepted string type or bytes it does not allow. */
export function decodeDirectoryString(tag: number, value: Buffer): string | null {
  switch (tag) {
    case 0x0c: // UTF8String
      return value.toString('utf8');
    case 0x13: // PrintableString: A-Z a-z 0-9 space ' ( ) + , - . / : = ?
      return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value.toString('latin1')) ? value.toString('latin1') : null;
    case 0x16: // IA5String: ASCII
      return value.every((b) => b < 0x80) ? value.toString('latin1') : null;
    case 0x1e: {
      // BMPString: UTF-16BE (surrogate pairs tolerated, as Windows writes them; a lone surrogate is not text)
      if (value.length % 2) return null;
      const swapped = Buffer.from(value);
      swapped.swap16();
      const text = swapped.toString('utf16le');
      return LONE_SURROGATE.test(text) ? null : text;
    }
    case 0x1c: {
      // UniversalString: UTF-32BE (surrogate code points are not characters)
      if (value.length % 4) return null;
      let out = '';
      for (let i = 0; i < value.length; i += 4) {
        const cp = value.readUInt32BE(i);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
        out += String.fromCodePoint(cp);
      }
      return out;
    }
    default:
      return null;
  }
}

/** RSAPublicKey ::= SEQUENCE { modulus, publicExponent }: both as unsigned big-endian bytes. */
export function rsaPublicKey(publicKeyBits: Buffer): { n: Buffer; e: Buffer; bits: number; minimal: boolean } {
  const seq = expect(readTlv(publicKeyBits, 0), 0x30, 'RSAPublicKey');
  if (seq.end !== publicKeyBits.length) throw new DerError('malformed RSAPublicKey');
  const [modulus, exponent, extra] = children(publicKeyBits, seq);
  if (extra) throw new DerError('malformed RSAPublicKey');
  // DER INTEGERs: positive and minimal (no sign bit, no redundant leading zero byte).
  const positiveMinimal = (b: Buffer) => b.length > 0 && (b[0] & 0x80) === 0 && !(b.length > 1 && b[0] === 0 && (b[1] & 0x80) === 0);
  const strip = (b: Buffer) => {
    let start = 0;
    while (start < b.length - 1 && b[start] === 0) start++;
    return b.subarray(start);
  };
  const rawN = content(publicKeyBits, expect(modulus, 0x02, 'RSA modulus'));
  const rawE = content(publicKeyBits, expect(exponent, 0x02, 'RSA public exponent'));
  const n = strip(rawN);
  const e = strip(rawE);
  const bits = n.length === 0 || n[0] === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0]));
  return { n, e, bits, minimal: positiveMinimal(rawN) && positiveMinimal(rawE) };
}

