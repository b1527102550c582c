import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import type { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { pkcs12Refusal } from './pkcs12-error';
import { MAX_PKCS12_ITERATIONS } from './limits';
import { Pbes2Params, Pbkdf2Params } from './pbes2-params';

export const PBES2_OID = '1.2.840.113549.1.5.13';
export const PBKDF2_OID = '1.2.840.113549.1.5.12';

/** PBKDF2 PRFs (RFC 8018 B.1) by OID: Node's digest name and the name the RFC gives. */
export const PBKDF2_PRFS: Record<string, { hash: string; name: string }> = {
  '1.2.840.113549.2.7': { hash: 'sha1', name: 'hmacWithSHA1' },
  '1.2.840.113549.2.8': { hash: 'sha224', name: 'hmacWithSHA224' },
  '1.2.840.113549.2.9': { hash: 'sha256', name: 'hmacWithSHA256' },
  '1.2.840.113549.2.10': { hash: 'sha384', name: 'hmacWithSHA384' },
  '1.2.840.113549.2.11': { hash: 'sha512', name: 'hmacWithSHA512' },
};
const HMAC_WITH_SHA1 = '1.2.840.113549.2.7';

/** PBES2 ciphers (RFC 8018 B.2) this reader decrypts, by OID. */
const PBES2_CIPHERS: Record<string, { cipher: string; name: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', name: 'AES-128-CBC', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', name: 'AES-192-CBC', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { cipher: 'aes-256-cbc', name: 'AES-256-CBC', keyLength: 32 },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', name: 'DES-EDE3-CBC', keyLength: 24 },
};

export interface Pbkdf2 {
  readonly saltLength: number;
  readonly salt: Buffer;
  readonly iterations: number;
  readonly keyLength?: number;
  readonly prfOid: string;
  /** Node digest name, e.g. 'sha256'. */
  readonly hash: string;
  /** e.g. 'hmacWithSHA256'. */
  readonly prfName: string;
}

/** Reads PBKDF2 parameters, refusing unknown PRFs and iteration counts outside 1..MAX_PKCS12_ITERATIONS. */
export function parsePbkdf2(kdf: AlgorithmIdentifier): Pbkdf2 {
  if (kdf.algorithm !== PBKDF2_OID || !kdf.parameters) throw pkcs12Refusal(`unsupported password-based key derivation ${kdf.algorithm}`, 'unsupported');
  let params: Pbkdf2Params;
  try {
    params = AsnConvert.parse(kdf.parameters, Pbkdf2Params);
  } catch (cause) {
    throw pkcs12Refusal('malformed PBKDF2 parameters', 'malformed', cause);
  }
  const prfOid = params.prf?.algorithm ?? HMAC_WITH_SHA1;
  const prf = PBKDF2_PRFS[prfOid];
  if (!prf) throw pkcs12Refusal(`unsupported PBKDF2 PRF ${prfOid}`, 'unsupported');
  const iterations = params.iterationCount;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PKCS12_ITERATIONS) {
    throw pkcs12Refusal(`PBKDF2 iteration count must be 1 to ${MAX_PKCS12_ITERATIONS}`, 'too-much-work');
  }
  if (params.keyLength !== undefined && (!Number.isInteger(params.keyLength) || params.keyLength < 1 || params.keyLength > 64)) {
    throw pkcs12Refusal('PBKDF2 key length must be 1 to 64 bytes', 'malformed');
  }
  const salt = Buffer.from(params.salt.buffer);
  return { salt, saltLength: salt.length, iterations, keyLength: params.keyLength, prfOid, hash: prf.hash, prfName: prf.name };
}

export interface Pbes2Scheme {
  readonly kdf: Pbkdf2;
  readonly cipherOid: string;
  /** e.g. 'AES-256-CBC'. */
  readonly cipherName: string;
  decrypt(password: string, data: Buffer): Buffer;
}

/** PBES2 (RFC 8018 6.2) parameters: PBKDF2 and a CBC cipher; the password is its UTF-8 bytes, as OpenSSL 3 and Java use. */
export function parsePbes2(parameters: ArrayBuffer | null | undefined): Pbes2Scheme {
  if (!parameters) throw pkcs12Refusal('PBES2 without parameters', 'malformed');
  let params: Pbes2Params;
  try {
    params = AsnConvert.parse(parameters, Pbes2Params);
  } catch (cause) {
    throw pkcs12Refusal('malformed PBES2 parameters', 'malformed', cause);
  }
  const kdf = parsePbkdf2(params.keyDerivationFunc);
  const cipherOid = params.encryptionScheme.algorithm;
  const cipher = PBES2_CIPHERS[cipherOid];
  if (!cipher) throw pkcs12Refusal(`unsupported PBES2 cipher ${cipherOid}`, 'unsupported');
  if (kdf.keyLength !== undefined && kdf.keyLength !== cipher.keyLength) throw pkcs12Refusal('PBKDF2 key length does not match the PBES2 cipher', 'malformed');
  let iv: Buffer;
  try {
    iv = Buffer.from(AsnConvert.parse(params.encryptionScheme.parameters ?? new ArrayBuffer(0), OctetString).buffer);
  } catch (cause) {
    throw pkcs12Refusal('malformed PBES2 cipher IV', 'malformed', cause);
  }
  const blockSize = cipher.cipher.startsWith('aes') ? 16 : 8;
  if (iv.length !== blockSize) throw pkcs12Refusal(`the PBES2 ${cipher.name} IV must be ${blockSize} bytes`, 'malformed');
  return {
    kdf,
    cipherOid,
    cipherName: cipher.name,
    decrypt(password, data) {
      const key = pbkdf2Sync(Buffer.from(password, 'utf8'), kdf.salt, kdf.iterations, cipher.keyLength, kdf.hash);
      try {
        const d = createDecipheriv(cipher.cipher, key, iv);
        return Buffer.concat([d.update(data), d.final()]);
      } catch (cause) {
        throw pkcs12Refusal(`${cipher.name} decryption failed (wrong password or corrupted data)`, 'wrong-password', cause);
      }
    },
  };
}
