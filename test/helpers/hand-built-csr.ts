import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { bitString, objectIdentifier, sequence, smallInteger, tlv } from '../../src/domain/der';
import { OID } from '../../src/domain/oids';

/**
 * CertificationRequests built byte by byte, for what `openssl req` will not write: a point in another
 * form, a signature algorithm that does not go with the key, odd parameters. Each is genuinely signed
 * over its CertificationRequestInfo with the matching private key, so only the named field is wrong.
 */

/** AlgorithmIdentifier ::= SEQUENCE { algorithm, parameters ANY OPTIONAL }, written exactly as given. */
export const algorithmId = (oid: string, params?: Buffer): Buffer => sequence(objectIdentifier(oid), ...(params ? [params] : []));

const rdn = (oid: string, value: string) => tlv(0x31, sequence(objectIdentifier(oid), tlv(0x0c, Buffer.from(value))));
export const DEFAULT_SUBJECT = sequence(rdn(OID.commonName, 'erp-connector'), rdn(OID.organizationalUnit, 'acme'));

export interface HandBuiltCsrParams {
  /** SubjectPublicKeyInfo DER as claimed. */
  readonly spki: Buffer;
  /** The signatureAlgorithm written into the CSR. */
  readonly signatureAlgorithm: Buffer;
  /** Signs the CertificationRequestInfo. */
  readonly sign: (info: Buffer) => Buffer;
  readonly subject?: Buffer;
}

export function handBuiltCsr(p: HandBuiltCsrParams): Buffer {
  const info = sequence(smallInteger(0), p.subject ?? DEFAULT_SUBJECT, p.spki, tlv(0xa0));
  return sequence(info, p.signatureAlgorithm, bitString(p.sign(info)));
}

export type PointForm = 'uncompressed' | 'compressed' | 'hybrid';

/** A fresh EC key: its point in any form, and SPKIs around it. */
export function ecKey(curve: 'P-256' | 'P-384' = 'P-256') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const jwk = publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x!, 'base64url');
  const y = Buffer.from(jwk.y!, 'base64url');
  const odd = y[y.length - 1] & 1;
  const point = (form: PointForm): Buffer =>
    form === 'uncompressed'
      ? Buffer.concat([Buffer.from([0x04]), x, y])
      : form === 'compressed'
        ? Buffer.concat([Buffer.from([0x02 + odd]), x])
        : Buffer.concat([Buffer.from([0x06 + odd]), x, y]);
  const curveOid = curve === 'P-256' ? OID.p256 : OID.p384;
  const spki = (pointBytes: Buffer, params: Buffer = objectIdentifier(curveOid)) => sequence(algorithmId(OID.ecPublicKey, params), bitString(pointBytes));
  return {
    privateKey,
    x,
    y,
    point,
    spki,
    signEcdsa: (digest = 'sha256') => (info: Buffer) => sign(digest, info, { key: privateKey, dsaEncoding: 'der' }),
  };
}

/** A fresh RSA-2048 key and its SPKI (rsaEncryption, NULL parameters). */
export function rsaKey(): { privateKey: KeyObject; spki: Buffer; signPkcs1: (digest?: string) => (info: Buffer) => Buffer } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    spki: createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
    signPkcs1: (digest = 'sha256') => (info: Buffer) => sign(digest, info, privateKey),
  };
}

