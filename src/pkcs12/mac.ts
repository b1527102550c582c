import { createHmac, timingSafeEqual } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { PFX } from '@peculiar/asn1-pfx';
import { CaError } from '../domain/errors';
import { bmpPassword, pkcs12Kdf, KDF_MAC } from './pkcs12-kdf';

/** Iteration counts above this are refused before any work (OpenSSL writes 2048; hostile files ask for billions). */
export const MAX_PKCS12_ITERATIONS = 1_000_000;
export const MAX_PKCS12_BYTES = 256 * 1024;

const MAC_HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const PBMAC1 = '1.2.840.113549.1.5.14';

/** Parses the outer PFX; anything that is not one is a 400. */
export function parsePfx(der: Buffer): PFX {
  if (der.length === 0 || der.length > MAX_PKCS12_BYTES) throw new CaError('invalid-request', `a PKCS#12 file must be 1 to ${MAX_PKCS12_BYTES} bytes`);
  try {
    return AsnConvert.parse(der, PFX);
  } catch (cause) {
    throw new CaError('invalid-request', 'the file is not a DER PKCS#12 (PFX) structure', { cause });
  }
}

/** The MAC algorithm name ('sha1', 'sha256', …) after checking the MAC with the password; throws a 400 when it does not match. */
export function verifyPkcs12Mac(pfx: PFX, password: string): string {
  const macData = pfx.macData;
  if (!macData) throw new CaError('invalid-request', 'the PKCS#12 file has no MAC (password integrity) and is refused');
  const oid = macData.mac.digestAlgorithm.algorithm;
  if (oid === PBMAC1) throw new CaError('invalid-request', 'the PKCS#12 MAC is PBMAC1 (RFC 9579), which is not supported here nor by Java');
  const hash = MAC_HASHES[oid];
  if (!hash) throw new CaError('invalid-request', `unsupported PKCS#12 MAC digest ${oid}`);
  const iterations = macData.iterations ?? 1;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PKCS12_ITERATIONS) {
    throw new CaError('invalid-request', `PKCS#12 MAC iteration count must be 1 to ${MAX_PKCS12_ITERATIONS}`);
  }
  let content: Buffer;
  try {
    content = Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
  } catch (cause) {
    throw new CaError('invalid-request', 'the PKCS#12 authenticated safe is not password-integrity data', { cause });
  }
  const expected = Buffer.from(macData.mac.digest.buffer);
  const key = pkcs12Kdf(hash, bmpPassword(password), Buffer.from(macData.macSalt.buffer), KDF_MAC, iterations, expected.length);
  const actual = createHmac(hash, key).update(content).digest();
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new CaError('invalid-request', 'wrong password or corrupted file: the PKCS#12 MAC does not verify');
  }
  return hash;
}
