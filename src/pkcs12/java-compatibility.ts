/**
 * Would Java's `KeyStore.getInstance("PKCS12").load(file, password)` load this file, and give a
 * PrivateKeyEntry, on each JDK line? Pure: judged from how the file is protected (decodePkcs12's report).
 *
 * The facts, and where they come from:
 * - JDK-8076190 (JDK 12; backported to 8u301 and 11.0.12) taught PKCS12KeyStore the HmacPBESHA224/256/
 *   384/512 MACs and PBES2 for the safes; JDK-8153005 (JDK 12, so 17 and 21) and its backports
 *   (8u301, 11.0.12: JDK-8267880) made PBES2 / AES-256-CBC + HmacPBESHA256 the defaults — what OpenSSL 3
 *   writes too. Older JDKs fail with "Integrity check failed: NoSuchAlgorithmException: Algorithm
 *   HmacPBESHA256 not available".
 * - pbeWithSHAAnd40BitRC2-CBC and 3DES (the pre-OpenSSL-3 and pre-8u301 defaults) are read by every JDK.
 * - PBMAC1 (RFC 9579) MACs: JDK-8343232, JDK 26; backports to 25 and below (JDK-8370042) only in late
 *   updates, so 17 and 21 are "depends on the update".
 * - No MAC at all: PKCS12KeyStore only checks a MAC that is present, so every JDK loads it.
 * - An unencrypted keyBag is skipped by PKCS12KeyStore (it reads pkcs8ShroudedKeyBag only): the file
 *   loads with no PrivateKeyEntry — observed with keytool 17 on `openssl pkcs12 -keypbe NONE`.
 */
import type { Pkcs12Contents, Pkcs12EncryptionInfo } from './pkcs12-decoder';

export type JdkLine = 'legacy' | '8u301+' | '11.0.12+' | '17' | '21';

export interface JdkVerdict {
  readonly jdk: JdkLine;
  readonly description: string;
  /** 'yes': loads with a PrivateKeyEntry; 'no': load() throws or gives no key entry; 'depends': on the exact update. */
  readonly loads: 'yes' | 'no' | 'depends';
  readonly reasons: readonly string[];
}

const JDK_LINES: readonly { jdk: JdkLine; description: string; modern: boolean; pbmac1: 'no' | 'depends' }[] = [
  { jdk: 'legacy', description: 'JDK 8 before 8u301, JDK 9 and 10, JDK 11 before 11.0.12', modern: false, pbmac1: 'no' },
  { jdk: '8u301+', description: 'JDK 8u301 and later', modern: true, pbmac1: 'no' },
  { jdk: '11.0.12+', description: 'JDK 11.0.12 and later', modern: true, pbmac1: 'no' },
  { jdk: '17', description: 'JDK 17', modern: true, pbmac1: 'depends' },
  { jdk: '21', description: 'JDK 21', modern: true, pbmac1: 'depends' },
];

/** The PKCS#12 PBE schemes every JDK decrypts (PBEWithSHA1AndDESede, PBEWithSHA1AndRC2_40/_128). */
const CLASSIC_PBE = new Set(['1.2.840.113549.1.12.1.3', '1.2.840.113549.1.12.1.5', '1.2.840.113549.1.12.1.6']);
const SHA1_MAC = '1.3.14.3.2.26';

/** Only what the verdict needs from a decoded file. */
export type ProtectionSummary = Pick<Pkcs12Contents, 'mac' | 'safes' | 'keys'>;

function encryptions(contents: ProtectionSummary): Pkcs12EncryptionInfo[] {
  const out: Pkcs12EncryptionInfo[] = [];
  for (const s of contents.safes) if (s.encryption) out.push(s.encryption);
  for (const k of contents.keys) if (k.encryption) out.push(k.encryption);
  return out;
}

export function javaCompatibility(contents: ProtectionSummary): JdkVerdict[] {
  const all = encryptions(contents);
  const pbes2 = all.filter((e) => e.name === 'PBES2');
  const mac = contents.mac;
  const shroudedKeys = contents.keys.filter((k) => k.bagType === 'pkcs8ShroudedKeyBag');
  return JDK_LINES.map(({ jdk, description, modern, pbmac1 }) => {
    const no: string[] = [];
    const depends: string[] = [];
    if (mac?.algorithm === 'PBMAC1') {
      const text = 'the MAC is PBMAC1 (RFC 9579): Java reads it from JDK 26 (JDK-8343232)';
      if (pbmac1 === 'depends') depends.push(`${text}; JDK ${jdk} only in updates with its backport`);
      else no.push(text);
    } else if (mac && mac.oid !== SHA1_MAC && !modern) {
      no.push(`the MAC is ${mac.algorithm}: this JDK has only HmacPBESHA1 ("Algorithm HmacPBESHA${mac.algorithm.replace('HMAC-SHA', '')} not available")`);
    }
    if (pbes2.length > 0 && !modern) {
      no.push(`${pbes2[0].description}: PBES2-encrypted safes are read from 8u301 / 11.0.12 (JDK-8076190)`);
    }
    for (const e of all) {
      if (e.name !== 'PBES2' && !CLASSIC_PBE.has(e.oid)) no.push(`${e.name} is not an encryption Java's PKCS12KeyStore reads`);
    }
    if (shroudedKeys.length === 0) {
      no.push(
        contents.keys.length > 0
          ? 'the private key is in an unencrypted keyBag, which Java skips: the keystore loads with no PrivateKeyEntry'
          : 'the file holds no private key: no PrivateKeyEntry',
      );
    }
    const loads = no.length > 0 ? 'no' : depends.length > 0 ? 'depends' : 'yes';
    return { jdk, description, loads, reasons: [...new Set([...no, ...depends])] };
  });
}
