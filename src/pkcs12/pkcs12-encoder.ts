/**
 * Writing a PKCS#12 (RFC 7292) bundle: the bags (key, leaf, chain, with friendlyName and localKeyId on the
 * key and the leaf) built once, protected by a `Pkcs12Protection`. This file uses WebCrypto only, so the
 * web console builds bundles in the browser with it; `modernProtection` is the profile OpenSSL 3 writes by
 * default and Java loads since 8u301/11.0.12 — PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an HMAC-SHA256
 * MAC keyed with the PKCS#12 KDF. The legacy profile (3DES, SHA-1 MAC) needs Node: legacy-protection.ts.
 * The ASN.1 structures are @peculiar/asn1-pfx / -cms / -pkcs8 / -x509, and pbes2-params.ts for PBES2's.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { ContentInfo, EncryptedContent, EncryptedContentInfo } from '@peculiar/asn1-cms';
import { EncryptedData as EncryptedKeyData } from '@peculiar/asn1-pkcs8';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { AuthenticatedSafe, CertBag, MacData, PFX, PKCS12Attribute, PKCS8ShroudedKeyBag, SafeBag, SafeContents } from '@peculiar/asn1-pfx';
import { EncryptedData } from './encrypted-data';
import { Pbes2Params, Pbkdf2Params } from './pbes2-params';

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

/** What OpenSSL 3 uses; Java's default is 10,000. Both load either. */
export const PKCS12_ITERATIONS = 2048;

export interface Pkcs12Input {
  /** PKCS#8 DER of the private key. */
  readonly privateKeyPkcs8: ArrayBuffer;
  /** DER of the leaf, then of the chain above it. */
  readonly certificates: readonly ArrayBuffer[];
  readonly password: string;
  /** The alias keytool shows. */
  readonly friendlyName: string;
  readonly iterations?: number;
}

function bytes(buffer: ArrayBuffer | Uint8Array): Uint8Array {
  return buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function bufferOf(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

/** The password as PKCS#12's KDF takes it: a BMPString (UTF-16BE) with two zero bytes at the end. */
function bmpPassword(password: string): Uint8Array {
  const out = new Uint8Array((password.length + 1) * 2);
  for (let i = 0; i < password.length; i++) {
    out[2 * i] = password.charCodeAt(i) >> 8;
    out[2 * i + 1] = password.charCodeAt(i) & 0xff;
  }
  return out;
}

/** RFC 7292 appendix B.2 with SHA-256 (v = 64, u = 32), purpose `id` (3: the MAC key). */
async function webPkcs12Kdf(subtle: SubtleCrypto, password: string, salt: Uint8Array, id: number, iterations: number, length: number): Promise<Uint8Array> {
  const v = 64;
  const u = 32;
  const fill = (src: Uint8Array) => {
    if (src.length === 0) return new Uint8Array(0);
    const out = new Uint8Array(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const D = new Uint8Array(v).fill(id);
  let I = concat(fill(salt), fill(bmpPassword(password)));
  const result: Uint8Array[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let A = bytes(await subtle.digest('SHA-256', bufferOf(concat(D, I))));
    for (let r = 1; r < iterations; r++) A = bytes(await subtle.digest('SHA-256', bufferOf(A)));
    result.push(A);
    const B = fill(A);
    const next = new Uint8Array(I.length);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        next[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
    I = next;
  }
  return concat(...result).slice(0, length);
}

/** How a bundle's safes are encrypted and its MAC computed. */
export interface Pkcs12Protection {
  encrypt(plain: Uint8Array): Promise<{ algorithm: AlgorithmIdentifier; cipher: Uint8Array }>;
  mac(authenticatedSafe: ArrayBuffer): Promise<MacData>;
}

/** OpenSSL 3's default: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC; HMAC-SHA256 MAC (PKCS#12 KDF). */
export function modernProtection(
  password: string,
  iterations = PKCS12_ITERATIONS,
  subtle: SubtleCrypto = globalThis.crypto.subtle,
  random: (n: number) => Uint8Array = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
): Pkcs12Protection {
  return {
    async encrypt(plain) {
      const salt = random(16);
      const iv = random(16);
      const base = await subtle.importKey('raw', bufferOf(new TextEncoder().encode(password)), 'PBKDF2', false, ['deriveKey']);
      const key = await subtle.deriveKey(
        { name: 'PBKDF2', salt: bufferOf(salt), iterations, hash: 'SHA-256' },
        base,
        { name: 'AES-CBC', length: 256 },
        false,
        ['encrypt'],
      );
      const cipher = bytes(await subtle.encrypt({ name: 'AES-CBC', iv: bufferOf(iv) }, key, bufferOf(plain)));
      const kdf = Object.assign(new Pbkdf2Params(), {
        salt: new OctetString(bufferOf(salt)),
        iterationCount: iterations,
        keyLength: 32,
        prf: new AlgorithmIdentifier({ algorithm: OID.hmacWithSha256, parameters: null }),
      });
      const params = Object.assign(new Pbes2Params(), {
        keyDerivationFunc: new AlgorithmIdentifier({ algorithm: OID.pbkdf2, parameters: AsnConvert.serialize(kdf) }),
        encryptionScheme: new AlgorithmIdentifier({ algorithm: OID.aes256Cbc, parameters: AsnConvert.serialize(new OctetString(bufferOf(iv))) }),
      });
      return { algorithm: new AlgorithmIdentifier({ algorithm: OID.pbes2, parameters: AsnConvert.serialize(params) }), cipher };
    },
    async mac(authenticatedSafe) {
      const macSalt = random(16);
      const macKey = await webPkcs12Kdf(subtle, password, macSalt, 3, iterations, 32);
      const hmacKey = await subtle.importKey('raw', bufferOf(macKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      const mac = await subtle.sign('HMAC', hmacKey, authenticatedSafe);
      return new MacData({
        mac: new DigestInfo({ digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha256, parameters: null }), digest: new OctetString(mac) }),
        macSalt: new OctetString(bufferOf(macSalt)),
        iterations,
      });
    },
  };
}

function attribute(attrId: string, value: ArrayBuffer): PKCS12Attribute {
  // PKCS12Attribute's constructor drops its argument: set the fields.
  const a = new PKCS12Attribute();
  a.attrId = attrId;
  a.attrValues = [value];
  return a;
}

/** A BMPString's DER (friendlyName is one). */
function bmpStringDer(text: string): ArrayBuffer {
  const body = bmpPassword(text).slice(0, text.length * 2);
  if (body.length > 127) throw new Error('friendlyName too long');
  return bufferOf(concat(Uint8Array.of(0x1e, body.length), body));
}

/** The DER of a PKCS#12 bundle with the modern profile (`modernProtection`), as the console builds it. */
export function encodePkcs12(input: Pkcs12Input): Promise<Uint8Array> {
  return buildPkcs12(input, modernProtection(input.password, input.iterations));
}

/** The DER of a PKCS#12 bundle: key bag and certificate bags, protected by `protection`. */
export async function buildPkcs12(
  input: Omit<Pkcs12Input, 'password' | 'iterations'>,
  protection: Pkcs12Protection,
  subtle: SubtleCrypto = globalThis.crypto.subtle,
): Promise<Uint8Array> {
  if (input.certificates.length === 0) throw new Error('a PKCS#12 bundle needs the certificate');
  const localKeyId = bytes(await subtle.digest('SHA-1', input.certificates[0] as ArrayBuffer));
  const leafAttributes = [
    attribute(OID.friendlyName, bmpStringDer(input.friendlyName)),
    attribute(OID.localKeyId, AsnConvert.serialize(new OctetString(bufferOf(localKeyId)))),
  ];

  const certBags = new SafeContents(
    input.certificates.map(
      (der, i) =>
        new SafeBag({
          bagId: OID.certBag,
          bagValue: AsnConvert.serialize(new CertBag({ certId: OID.x509Certificate, certValue: AsnConvert.serialize(new OctetString(der)) })),
          bagAttributes: i === 0 ? leafAttributes : undefined,
        }),
    ),
  );
  const certs = await protection.encrypt(bytes(AsnConvert.serialize(certBags)));
  const encryptedData = new EncryptedData();
  encryptedData.encryptedContentInfo = new EncryptedContentInfo({
    contentType: OID.data,
    contentEncryptionAlgorithm: certs.algorithm,
    encryptedContent: new EncryptedContent({ value: new OctetString(bufferOf(certs.cipher)) }),
  });

  const key = await protection.encrypt(bytes(input.privateKeyPkcs8));
  const keyBag = new PKCS8ShroudedKeyBag({ encryptionAlgorithm: key.algorithm, encryptedData: new EncryptedKeyData(bufferOf(key.cipher)) });
  const keyContents = new SafeContents([new SafeBag({ bagId: OID.shroudedKeyBag, bagValue: AsnConvert.serialize(keyBag), bagAttributes: leafAttributes })]);

  const authenticatedSafe = new AuthenticatedSafe([
    new ContentInfo({ contentType: OID.encryptedData, content: AsnConvert.serialize(encryptedData) }),
    new ContentInfo({ contentType: OID.data, content: AsnConvert.serialize(new OctetString(AsnConvert.serialize(keyContents))) }),
  ]);
  const authSafeContent = AsnConvert.serialize(authenticatedSafe);
  const pfx = new PFX({
    version: 3,
    authSafe: new ContentInfo({ contentType: OID.data, content: AsnConvert.serialize(new OctetString(authSafeContent)) }),
    macData: await protection.mac(authSafeContent),
  });
  return bytes(AsnConvert.serialize(pfx));
}
