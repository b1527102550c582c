import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { type MacData, PFX } from '@peculiar/asn1-pfx';
import { pkcs12Refusal } from './pkcs12-error';
import { bmpPassword, pkcs12Kdf, KDF_MAC } from './pkcs12-kdf';

import { MAX_PKCS12_BYTES, MAX_PKCS12_ITERATIONS } from './limits';
import { parsePbkdf2, PBKDF2_PRFS } from './pbes2';
import { Pbmac1Params } from './pbes2-params';

export { MAX_PKCS12_BYTES, MAX_PKCS12_ITERATIONS };

const MAC_HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
export const PBMAC1_OID = '1.2.840.113549.1.5.14';

/** Parses the outer PFX; anything that is not one is a 400. */
export function parsePfx(der: Buffer): PFX {
  if (der.length === 0 || der.length > MAX_PKCS12_BYTES) throw pkcs12Refusal(`a PKCS#12 file must be 1 to ${MAX_PKCS12_BYTES} bytes`, 'not-pkcs12');
  try {
    return AsnConvert.parse(der, PFX);
  } catch (cause) {
    throw pkcs12Refusal('the file is not a DER PKCS#12 (PFX) structure', 'not-pkcs12', cause);
  }
}

/** The file's MacData, or null when it has none (@peculiar's PFX fills an absent one with an empty default). */
export function presentMacData(pfx: PFX): MacData | null {
  const macData = pfx.macData;
  return macData && macData.mac.digestAlgorithm.algorithm !== '' ? macData : null;
}

/** The authenticated safe's content octets, over which the MAC is computed. */
export function authSafeContent(pfx: PFX): Buffer {
  try {
    return Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
  } catch (cause) {
    throw pkcs12Refusal('the PKCS#12 authenticated safe is not password-integrity data', 'unsupported', cause);
  }
}

/** The PBMAC1 (RFC 9579) key and HMAC digest: PBKDF2 over the UTF-8 password; MacData's own salt and iterations are not used. */
function pbmac1Key(parameters: ArrayBuffer | null | undefined, password: string): { hash: string; key: Buffer } {
  let params: Pbmac1Params;
  try {
    params = AsnConvert.parse(parameters ?? new ArrayBuffer(0), Pbmac1Params);
  } catch (cause) {
    throw pkcs12Refusal('malformed PBMAC1 parameters', 'malformed', cause);
  }
  const kdf = parsePbkdf2(params.keyDerivationFunc);
  const mac = PBKDF2_PRFS[params.messageAuthScheme.algorithm];
  if (!mac) throw pkcs12Refusal(`unsupported PBMAC1 message authentication scheme ${params.messageAuthScheme.algorithm}`, 'unsupported');
  if (kdf.keyLength === undefined) throw pkcs12Refusal('PBMAC1 needs the PBKDF2 key length', 'malformed');
  return { hash: mac.hash, key: pbkdf2Sync(Buffer.from(password, 'utf8'), kdf.salt, kdf.iterations, kdf.keyLength, kdf.hash) };
}

/**
 * The MAC's HMAC digest name ('sha1', 'sha256', …) after checking the MAC with the password (the classic
 * PKCS#12-KDF MAC or PBMAC1); throws a 400 with extension `reason` ('wrong-password', 'unsupported', …).
 */
export function verifyPkcs12Mac(pfx: PFX, password: string): string {
  const macData = presentMacData(pfx);
  if (!macData) throw pkcs12Refusal('the PKCS#12 file has no MAC (password integrity) and is refused', 'no-mac');
  const oid = macData.mac.digestAlgorithm.algorithm;
  const content = authSafeContent(pfx);
  const expected = Buffer.from(macData.mac.digest.buffer);
  let hash: string;
  let key: Buffer;
  if (oid === PBMAC1_OID) {
    ({ hash, key } = pbmac1Key(macData.mac.digestAlgorithm.parameters, password));
  } else {
    const found = MAC_HASHES[oid];
    if (!found) throw pkcs12Refusal(`unsupported PKCS#12 MAC digest ${oid}`, 'unsupported');
    hash = found;
    // The MAC key is as long as the HMAC's digest: a file's longer "digest" would make the KDF derive (and
    // run its iterations for) every block of it, outside the work budget. Such a MAC cannot verify anyway.
    const digestLength = createHash(hash).digest().length;
    if (expected.length !== digestLength) throw pkcs12Refusal(`the PKCS#12 MAC must be ${digestLength} bytes (HMAC-${hash.toUpperCase()})`, 'malformed');
    const iterations = macData.iterations ?? 1;
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PKCS12_ITERATIONS) {
      throw pkcs12Refusal(`PKCS#12 MAC iteration count must be 1 to ${MAX_PKCS12_ITERATIONS}`, 'too-much-work');
    }
    key = pkcs12Kdf(hash, bmpPassword(password), Buffer.from(macData.macSalt.buffer), KDF_MAC, iterations, digestLength);
  }
  const actual = createHmac(hash, key).update(content).digest();
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw pkcs12Refusal('wrong password or corrupted file: the PKCS#12 MAC does not verify', 'wrong-password');
  }
  return hash;
}
