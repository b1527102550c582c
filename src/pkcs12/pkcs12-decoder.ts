/**
 * Reading a PKCS#12 (RFC 7292) file: the MAC checked with the password, every safe decrypted, the keys
 * and certificates returned with their bag attributes, and a description of how the file is protected
 * (MAC, and the encryption of each safe and key bag) so a caller can judge which readers load it.
 * Every failure is a CaError 'invalid-pkcs12' (422) with a `reason`; nothing here throws anything else.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ContentInfo } from '@peculiar/asn1-cms';
import { PrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { AuthenticatedSafe, CertBag, PKCS8ShroudedKeyBag, SafeContents, type PKCS12Attribute, type SafeBag } from '@peculiar/asn1-pfx';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import type { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { CaError } from '../domain/errors';
import { EncryptedData } from './encrypted-data';
import { authSafeContent, parsePfx, PBMAC1_OID, presentMacData, verifyPkcs12Mac } from './mac';
import { parsePbes2, parsePbkdf2, PBES2_OID } from './pbes2';
import { Pbmac1Params } from './pbes2-params';
import { decryptPkcs12Pbe, PKCS12_PBE, PKCS12PbeParams } from './pkcs12-pbe';
import { pkcs12Refusal, type Pkcs12FailureReason } from './pkcs12-error';

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  envelopedData: '1.2.840.113549.1.7.3',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

const BAG_NAMES: Record<string, string> = {
  '1.2.840.113549.1.12.10.1.1': 'keyBag',
  '1.2.840.113549.1.12.10.1.2': 'pkcs8ShroudedKeyBag',
  '1.2.840.113549.1.12.10.1.3': 'certBag',
  '1.2.840.113549.1.12.10.1.4': 'crlBag',
  '1.2.840.113549.1.12.10.1.5': 'secretBag',
  '1.2.840.113549.1.12.10.1.6': 'safeContentsBag',
};

const MAC_NAMES: Record<string, string> = {
  '1.3.14.3.2.26': 'HMAC-SHA1',
  '2.16.840.1.101.3.4.2.4': 'HMAC-SHA224',
  '2.16.840.1.101.3.4.2.1': 'HMAC-SHA256',
  '2.16.840.1.101.3.4.2.2': 'HMAC-SHA384',
  '2.16.840.1.101.3.4.2.3': 'HMAC-SHA512',
};

/** Safes and bags beyond these are refused (a 256 KiB file has no business holding more). */
const MAX_SAFES = 16;
const MAX_BAGS = 64;
/**
 * Key-derivation work one file may cost in total (MAC and every bag), counted in PKCS#12-KDF hash rounds
 * (this JavaScript KDF does about 300-500 thousand a second on one core; native PBKDF2 rounds count 1/8).
 * Decoding is synchronous, so this bounds how long one file holds the event loop (about two seconds).
 * Real files cost far less: OpenSSL 3 about 6,000, Java 17 about 4,000, JDK 12-16's 100,000-iteration MAC
 * and 50,000-iteration 3DES/RC2 bags about 400,000.
 */
export const MAX_PKCS12_WORK = 600_000;
const PBKDF2_ROUND_COST = 1 / 8;

export interface Pkcs12MacInfo {
  readonly oid: string;
  /** 'HMAC-SHA256' (PKCS#12 KDF), or 'PBMAC1' (RFC 9579). */
  readonly algorithm: string;
  readonly iterations: number;
  readonly saltLength: number;
  /** PBMAC1 only: the PBKDF2 PRF and HMAC, e.g. 'PBKDF2-hmacWithSHA256, hmacWithSHA512'. */
  readonly pbmac1?: { readonly prf: string; readonly mac: string; readonly keyLength?: number };
}

export interface Pkcs12EncryptionInfo {
  readonly oid: string;
  /** 'pbeWithSHAAnd3-KeyTripleDES-CBC', 'pbeWithSHAAnd40BitRC2-CBC', 'PBES2', or the OID when unknown. */
  readonly name: string;
  readonly iterations: number;
  readonly saltLength: number;
  /** PBES2 only. */
  readonly pbes2?: { readonly kdf: 'PBKDF2'; readonly prf: string; readonly prfOid: string; readonly cipher: string; readonly cipherOid: string };
  /** One line: 'PBES2 (PBKDF2-hmacWithSHA256, AES-256-CBC), 2048 iterations'. */
  readonly description: string;
}

export interface Pkcs12BagAttributes {
  readonly friendlyName?: string;
  /** Hex. */
  readonly localKeyId?: string;
  /** OIDs of the other attributes (e.g. Java's trusted-certificate usage 2.16.840.1.113894.746875.1.1). */
  readonly other: readonly string[];
}

export interface Pkcs12Key {
  readonly privateKey: KeyObject;
  /** PKCS#8 DER, in clear: never log or store it. */
  readonly pkcs8: Buffer;
  readonly bagType: 'keyBag' | 'pkcs8ShroudedKeyBag';
  /** Null for a keyBag in a plaintext safe (no password protection on the key at all). */
  readonly encryption: Pkcs12EncryptionInfo | null;
  readonly safeIndex: number;
  readonly attributes: Pkcs12BagAttributes;
}

export interface Pkcs12Certificate {
  readonly der: Buffer;
  readonly certificate: X509Certificate;
  readonly safeIndex: number;
  readonly attributes: Pkcs12BagAttributes;
}

export interface Pkcs12SafeInfo {
  readonly contentType: 'data' | 'encryptedData';
  /** Null: the safe is plaintext (its key bags may still be shrouded). */
  readonly encryption: Pkcs12EncryptionInfo | null;
  readonly bags: readonly string[];
}

export interface Pkcs12Contents {
  /** Null: the file has no MAC (no password integrity). */
  readonly mac: Pkcs12MacInfo | null;
  readonly safes: readonly Pkcs12SafeInfo[];
  readonly keys: readonly Pkcs12Key[];
  readonly certificates: readonly Pkcs12Certificate[];
  /** Bags neither key nor X.509 certificate (CRL, secret, nested safe, SDSI certificate), by name or OID. */
  readonly otherBags: readonly string[];
}

class WorkBudget {
  private left = MAX_PKCS12_WORK;
  spend(rounds: number): void {
    this.left -= rounds;
    if (this.left < 0) throw pkcs12Refusal(`the PKCS#12 file's iteration counts ask for more key-derivation work than accepted (${MAX_PKCS12_WORK} PKCS#12-KDF rounds in total)`, 'too-much-work');
  }
}

function parse<T>(data: ArrayBuffer | Uint8Array, type: new () => T, what: string): T {
  try {
    return AsnConvert.parse(data as BufferSource, type);
  } catch (cause) {
    throw pkcs12Refusal(`malformed PKCS#12 ${what}`, 'malformed', cause);
  }
}

function describeMac(pfx: ReturnType<typeof parsePfx>): Pkcs12MacInfo | null {
  const macData = presentMacData(pfx);
  if (!macData) return null;
  const oid = macData.mac.digestAlgorithm.algorithm;
  if (oid === PBMAC1_OID) {
    const params = parse(macData.mac.digestAlgorithm.parameters ?? new ArrayBuffer(0), Pbmac1Params, 'PBMAC1 parameters');
    const kdf = parsePbkdf2(params.keyDerivationFunc);
    const mac = params.messageAuthScheme.algorithm;
    return {
      oid,
      algorithm: 'PBMAC1',
      iterations: kdf.iterations,
      saltLength: kdf.saltLength,
      pbmac1: { prf: `PBKDF2-${kdf.prfName}`, mac: MAC_NAMES_BY_PRF[mac] ?? mac, keyLength: kdf.keyLength },
    };
  }
  return { oid, algorithm: MAC_NAMES[oid] ?? oid, iterations: macData.iterations ?? 1, saltLength: macData.macSalt.byteLength };
}

const MAC_NAMES_BY_PRF: Record<string, string> = {
  '1.2.840.113549.2.7': 'hmacWithSHA1',
  '1.2.840.113549.2.9': 'hmacWithSHA256',
  '1.2.840.113549.2.10': 'hmacWithSHA384',
  '1.2.840.113549.2.11': 'hmacWithSHA512',
};

/** Describes and decrypts data under a password-based encryption algorithm (PKCS#12 PBE or PBES2). */
function decrypt(algorithm: AlgorithmIdentifier, password: string, data: Buffer, budget: WorkBudget): { info: Pkcs12EncryptionInfo; plain: Buffer } {
  const oid = algorithm.algorithm;
  if (oid === PBES2_OID) {
    const scheme = parsePbes2(algorithm.parameters);
    const { kdf } = scheme;
    budget.spend(Math.ceil(kdf.iterations * PBKDF2_ROUND_COST));
    const info: Pkcs12EncryptionInfo = {
      oid,
      name: 'PBES2',
      iterations: kdf.iterations,
      saltLength: kdf.saltLength,
      pbes2: { kdf: 'PBKDF2', prf: kdf.prfName, prfOid: kdf.prfOid, cipher: scheme.cipherName, cipherOid: scheme.cipherOid },
      description: `PBES2 (PBKDF2-${kdf.prfName}, ${scheme.cipherName}), ${kdf.iterations} iterations`,
    };
    return { info, plain: scheme.decrypt(password, data) };
  }
  const pbe = PKCS12_PBE[oid as keyof typeof PKCS12_PBE];
  if (!pbe) throw pkcs12Refusal(`unsupported PKCS#12 encryption algorithm ${oid}`, 'unsupported');
  const params = parse(algorithm.parameters ?? new ArrayBuffer(0), PKCS12PbeParams, 'PBE parameters');
  // Key and IV each cost `iterations` SHA-1 rounds per 20-byte block (3DES: two blocks of key, one of IV).
  budget.spend(Math.max(0, params.iterations) * 3);
  const info: Pkcs12EncryptionInfo = {
    oid,
    name: pbe.name,
    iterations: params.iterations,
    saltLength: params.salt.byteLength,
    description: `${pbe.name}, ${params.iterations} iterations`,
  };
  return { info, plain: decryptPkcs12Pbe(oid, algorithm.parameters ?? undefined, password, data) };
}

/** The text of a DER BMPString (friendlyName's type): tag 0x1e, a definite length, UTF-16BE. */
function bmpString(der: Buffer): string {
  const refuse = () => pkcs12Refusal('a friendlyName attribute is not a BMPString', 'malformed');
  if (der.length < 2 || der[0] !== 0x1e) throw refuse();
  let length = der[1];
  let at = 2;
  if (length === 0x81 && der.length >= 3) [length, at] = [der[2], 3];
  else if (length === 0x82 && der.length >= 4) [length, at] = [der.readUInt16BE(2), 4];
  else if (length >= 0x80) throw refuse();
  if (at + length !== der.length || length % 2 !== 0) throw refuse();
  return Buffer.from(der.subarray(at)).swap16().toString('utf16le'); // a copy: swap16 works in place
}

function attributesOf(bag: SafeBag): Pkcs12BagAttributes {
  let friendlyName: string | undefined;
  let localKeyId: string | undefined;
  const other: string[] = [];
  for (const a of bag.bagAttributes ?? ([] as PKCS12Attribute[])) {
    const value = a.attrValues[0];
    if (a.attrId === OID.friendlyName && value) {
      friendlyName = bmpString(Buffer.from(value));
    } else if (a.attrId === OID.localKeyId && value) {
      localKeyId = Buffer.from(parse(value, OctetString, 'localKeyId attribute').buffer).toString('hex');
    } else {
      other.push(a.attrId);
    }
  }
  return { ...(friendlyName !== undefined ? { friendlyName } : {}), ...(localKeyId !== undefined ? { localKeyId } : {}), other };
}

function privateKeyOf(pkcs8: Buffer, wrongPasswordPossible: boolean): KeyObject {
  try {
    parse(pkcs8, PrivateKeyInfo, 'private key');
    return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw pkcs12Refusal(
      wrongPasswordPossible ? 'the private key does not decrypt to a PKCS#8 key (wrong password or corrupted file)' : 'the private key bag is not a usable PKCS#8 key',
      wrongPasswordPossible ? 'wrong-password' : 'malformed',
      cause,
    );
  }
}

interface Collected {
  keys: Pkcs12Key[];
  certificates: Pkcs12Certificate[];
  otherBags: string[];
}

function readBags(
  contents: SafeContents,
  safeIndex: number,
  password: string,
  budget: WorkBudget,
  macChecked: boolean,
  out: Collected,
): string[] {
  const names: string[] = [];
  for (const bag of contents) {
    if (out.keys.length + out.certificates.length + out.otherBags.length >= MAX_BAGS) throw pkcs12Refusal(`more than ${MAX_BAGS} bags`, 'malformed');
    const name = BAG_NAMES[bag.bagId] ?? bag.bagId;
    names.push(name);
    const attributes = attributesOf(bag);
    if (bag.bagId === OID.keyBag) {
      const pkcs8 = Buffer.from(bag.bagValue);
      out.keys.push({ privateKey: privateKeyOf(pkcs8, !macChecked), pkcs8, bagType: 'keyBag', encryption: null, safeIndex, attributes });
    } else if (bag.bagId === OID.shroudedKeyBag) {
      const shrouded = parse(bag.bagValue, PKCS8ShroudedKeyBag, 'shrouded key bag');
      const { info, plain } = decrypt(shrouded.encryptionAlgorithm, password, Buffer.from(shrouded.encryptedData.buffer), budget);
      out.keys.push({ privateKey: privateKeyOf(plain, !macChecked), pkcs8: plain, bagType: 'pkcs8ShroudedKeyBag', encryption: info, safeIndex, attributes });
    } else if (bag.bagId === OID.certBag) {
      const certBag = parse(bag.bagValue, CertBag, 'certificate bag');
      if (certBag.certId !== OID.x509Certificate) {
        out.otherBags.push(`certBag ${certBag.certId}`);
        continue;
      }
      const der = Buffer.from(parse(certBag.certValue, OctetString, 'certificate bag').buffer);
      let certificate: X509Certificate;
      try {
        certificate = new X509Certificate(der);
      } catch (cause) {
        throw pkcs12Refusal('a certificate bag holds no valid X.509 certificate', 'malformed', cause);
      }
      out.certificates.push({ der, certificate, safeIndex, attributes });
    } else {
      out.otherBags.push(name);
    }
  }
  return names;
}

function readSafe(ci: ContentInfo, index: number, password: string, budget: WorkBudget, macChecked: boolean, out: Collected): Pkcs12SafeInfo {
  if (ci.contentType === OID.data) {
    const contents = parse(parse(ci.content, OctetString, 'data safe').buffer, SafeContents, 'safe contents');
    return { contentType: 'data', encryption: null, bags: readBags(contents, index, password, budget, macChecked, out) };
  }
  if (ci.contentType === OID.encryptedData) {
    const eci = parse(ci.content, EncryptedData, 'encrypted safe').encryptedContentInfo;
    const content = eci.encryptedContent;
    const cipher = content?.value
      ? Buffer.from(content.value.buffer)
      : content?.constructedValue
        ? Buffer.concat(content.constructedValue.map((part) => Buffer.from(part.buffer)))
        : null;
    if (!cipher) throw pkcs12Refusal('an encrypted safe has no encrypted content', 'malformed');
    const { info, plain } = decrypt(eci.contentEncryptionAlgorithm, password, cipher, budget);
    let contents: SafeContents;
    try {
      contents = AsnConvert.parse(plain as BufferSource, SafeContents);
    } catch (cause) {
      throw pkcs12Refusal('an encrypted safe does not decrypt to bags (wrong password or corrupted file)', macChecked ? 'malformed' : 'wrong-password', cause);
    }
    return { contentType: 'encryptedData', encryption: info, bags: readBags(contents, index, password, budget, macChecked, out) };
  }
  if (ci.contentType === OID.envelopedData) throw pkcs12Refusal('a safe is public-key encrypted (envelopedData), which needs a private key, not a password', 'unsupported');
  throw pkcs12Refusal(`unsupported safe content type ${ci.contentType}`, 'unsupported');
}

/** The refusals of the readers below, and anything unexpected, as one 422 with a `reason`. */
function asPkcs12Error(error: unknown): CaError {
  if (error instanceof CaError && error.kind === 'invalid-pkcs12') return error;
  if (error instanceof CaError && error.kind === 'invalid-request') {
    const reason = (error.extensions.reason as Pkcs12FailureReason | undefined) ?? 'malformed';
    return new CaError('invalid-pkcs12', error.detail, { cause: error, extensions: { reason } });
  }
  return new CaError('invalid-pkcs12', 'the PKCS#12 file cannot be read', { cause: error, extensions: { reason: 'malformed' } });
}

/**
 * Decrypts a PKCS#12 file with its password: the MAC (when there is one) is checked first, so a wrong
 * password is reported as such; then every safe and key bag is decrypted. Throws CaError 'invalid-pkcs12'
 * (422) with `reason` one of not-pkcs12, wrong-password, unsupported, malformed, too-much-work.
 */
export function decodePkcs12(der: Uint8Array, password: string): Pkcs12Contents {
  try {
    const pfx = parsePfx(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
    if (pfx.version !== 3) throw pkcs12Refusal(`PFX version ${pfx.version} is not 3`, 'not-pkcs12');
    if (pfx.authSafe.contentType !== OID.data) throw pkcs12Refusal('the PKCS#12 file uses public-key integrity (signedData), not a password MAC', 'unsupported');
    const budget = new WorkBudget();
    const mac = describeMac(pfx);
    if (mac) {
      budget.spend(mac.pbmac1 ? Math.ceil(mac.iterations * PBKDF2_ROUND_COST) : mac.iterations);
      verifyPkcs12Mac(pfx, password);
    }
    const safes = parse(authSafeContent(pfx), AuthenticatedSafe, 'authenticated safe');
    if (safes.length > MAX_SAFES) throw pkcs12Refusal(`more than ${MAX_SAFES} safes`, 'malformed');
    const out: Collected = { keys: [], certificates: [], otherBags: [] };
    const safeInfos = safes.map((ci, i) => readSafe(ci, i, password, budget, mac !== null, out));
    return { mac, safes: safeInfos, ...out };
  } catch (error) {
    throw asPkcs12Error(error);
  }
}
