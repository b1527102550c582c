import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { MacData } from '@peculiar/asn1-pfx';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import type { Pkcs12Protection } from './pkcs12-encoder';
import { bmpPassword, KDF_IV, KDF_KEY, KDF_MAC, pkcs12Kdf } from './pkcs12-kdf';
import { PKCS12PbeParams } from './pkcs12-pbe';

const PBE_SHA1_3DES = '1.2.840.113549.1.12.1.3';
const SHA1 = '1.3.14.3.2.26';

function bufferOf(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

/**
 * The legacy profile, for JDKs older than 8u301 (and other old readers): key and certificates with
 * pbeWithSHAAnd3-KeyTripleDES-CBC, a SHA-1 HMAC MAC, both keyed with the PKCS#12 KDF (RFC 7292 B.2).
 * Node only (WebCrypto has no 3DES).
 */
export function legacyProtection(password: string, iterations = 2048): Pkcs12Protection {
  const secret = bmpPassword(password);
  return {
    async encrypt(plain) {
      const salt = randomBytes(8);
      const key = pkcs12Kdf('sha1', secret, salt, KDF_KEY, iterations, 24);
      const iv = pkcs12Kdf('sha1', secret, salt, KDF_IV, iterations, 8);
      const cipher = createCipheriv('des-ede3-cbc', key, iv);
      const out = Buffer.concat([cipher.update(plain), cipher.final()]);
      const params = Object.assign(new PKCS12PbeParams(), { salt: new OctetString(bufferOf(salt)), iterations });
      return { algorithm: new AlgorithmIdentifier({ algorithm: PBE_SHA1_3DES, parameters: AsnConvert.serialize(params) }), cipher: out };
    },
    async mac(authenticatedSafe) {
      const salt = randomBytes(8);
      const key = pkcs12Kdf('sha1', secret, salt, KDF_MAC, iterations, 20);
      const digest = createHmac('sha1', key).update(Buffer.from(authenticatedSafe)).digest();
      return new MacData({
        mac: new DigestInfo({ digestAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: null }), digest: new OctetString(bufferOf(digest)) }),
        macSalt: new OctetString(bufferOf(salt)),
        iterations,
      });
    },
  };
}
