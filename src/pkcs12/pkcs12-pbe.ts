import { createDecipheriv } from 'node:crypto';
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import { pkcs12Refusal } from './pkcs12-error';
import { MAX_PKCS12_ITERATIONS } from './mac';
import { bmpPassword, pkcs12Kdf, KDF_IV, KDF_KEY } from './pkcs12-kdf';
import { rc2CbcDecrypt } from './rc2';

/** pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER } (RFC 7292 appendix C; not exported by @peculiar/asn1-pfx). */
export class PKCS12PbeParams {
  @AsnProp({ type: OctetString })
  salt = new OctetString();

  @AsnProp({ type: AsnPropTypes.Integer })
  iterations = 0;
}

/** RFC 7292 appendix C PBE schemes this reader decrypts (pbeWithSHAAnd…), by OID. */
export const PKCS12_PBE = {
  '1.2.840.113549.1.12.1.3': { name: 'pbeWithSHAAnd3-KeyTripleDES-CBC', keyLength: 24 },
  '1.2.840.113549.1.12.1.6': { name: 'pbeWithSHAAnd40BitRC2-CBC', keyLength: 5 },
  '1.2.840.113549.1.12.1.5': { name: 'pbeWithSHAAnd128BitRC2-CBC', keyLength: 16 },
} as const;

/** Decrypts data encrypted with a PKCS#12 PBE scheme (SHA-1 KDF); unknown scheme, huge iteration count or bad padding -> 400. */
export function decryptPkcs12Pbe(oid: string, parameters: ArrayBuffer | undefined, password: string, data: Buffer): Buffer {
  const scheme = PKCS12_PBE[oid as keyof typeof PKCS12_PBE];
  if (!scheme || !parameters) throw pkcs12Refusal(`unsupported PKCS#12 encryption scheme ${oid}`, 'unsupported');
  let params: PKCS12PbeParams;
  try {
    params = AsnConvert.parse(parameters, PKCS12PbeParams);
  } catch (cause) {
    throw pkcs12Refusal('malformed PKCS#12 PBE parameters', 'malformed', cause);
  }
  if (params.iterations < 1 || params.iterations > MAX_PKCS12_ITERATIONS) throw pkcs12Refusal(`PKCS#12 PBE iteration count must be 1 to ${MAX_PKCS12_ITERATIONS}`, 'too-much-work');
  const pw = bmpPassword(password);
  const salt = Buffer.from(params.salt.buffer);
  const key = pkcs12Kdf('sha1', pw, salt, KDF_KEY, params.iterations, scheme.keyLength);
  const iv = pkcs12Kdf('sha1', pw, salt, KDF_IV, params.iterations, 8);
  if (oid === '1.2.840.113549.1.12.1.3') {
    try {
      const d = createDecipheriv('des-ede3-cbc', key, iv);
      return Buffer.concat([d.update(data), d.final()]);
    } catch (cause) {
      throw pkcs12Refusal('3DES decryption failed (wrong password or corrupted bag)', 'wrong-password', cause);
    }
  }
  return rc2CbcDecrypt(key, scheme.keyLength * 8, iv, data);
}
