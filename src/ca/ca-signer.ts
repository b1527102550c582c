import { createPublicKey, createSign, createVerify, sign as nodeSign, type KeyObject } from 'node:crypto';
import { children, decodeObjectIdentifier, NULL, objectIdentifier, readTlv, sequence, slice } from '../domain/der';
import { OID } from '../domain/oids';

/** The digests a CA signature uses (node:crypto names). */
export type CaDigest = 'sha256' | 'sha384' | 'sha512';

/**
 * Whatever holds the CA's private key: a KeyObject in memory (a file, the ledger) or a token
 * (PKCS#11). Everything the CA signs — certificates, CRLs, OCSP answers — goes through `sign`.
 */
export interface CaSigner {
  /** The CA key's SubjectPublicKeyInfo, DER. */
  readonly spkiDer: Buffer;
  readonly digest: CaDigest;
  /** DER AlgorithmIdentifier of the signatures. */
  readonly signatureAlgorithmDer: Buffer;
  /** The X.509 signature value over the concatenated parts (hashed in order, never joined); ECDSA: DER Ecdsa-Sig-Value. */
  sign(parts: readonly Uint8Array[]): Promise<Buffer>;
  close(): Promise<void>;
}

export interface SignatureScheme {
  readonly keyType: 'EC' | 'RSA';
  readonly digest: CaDigest;
  readonly signatureAlgorithmDer: Buffer;
}

const EC_DIGESTS: Record<string, CaDigest> = { [OID.p256]: 'sha256', [OID.p384]: 'sha384', [OID.p521]: 'sha512' };
const ECDSA_OIDS: Record<CaDigest, string> = { sha256: OID.ecdsaWithSHA256, sha384: OID.ecdsaWithSHA384, sha512: OID.ecdsaWithSHA512 };

/** How a CA key signs, from its SubjectPublicKeyInfo: ECDSA with the curve's hash, RSA PKCS#1 v1.5 with SHA-256. */
export function signatureSchemeFor(spkiDer: Uint8Array): SignatureScheme {
  const [algorithm] = children(spkiDer, readTlv(spkiDer, 0));
  const [oid, params] = children(spkiDer, algorithm);
  const keyOid = decodeObjectIdentifier(slice(spkiDer, oid));
  if (keyOid === OID.rsaEncryption) {
    return { keyType: 'RSA', digest: 'sha256', signatureAlgorithmDer: sequence(objectIdentifier(OID.sha256WithRSA), NULL) };
  }
  const curve = keyOid === OID.ecPublicKey && params?.tag === 0x06 ? decodeObjectIdentifier(slice(spkiDer, params)) : undefined;
  const digest = curve ? EC_DIGESTS[curve] : undefined;
  if (!digest) throw new Error(`a CA key must be RSA or ECDSA on P-256, P-384 or P-521 (got ${keyOid})`);
  return { keyType: 'EC', digest, signatureAlgorithmDer: sequence(objectIdentifier(ECDSA_OIDS[digest])) };
}

/** A CA key held in memory as a node:crypto KeyObject (a file, or the ledger's wrapped key). Signs synchronously. */
export function keyObjectSigner(key: KeyObject): CaSigner {
  const spkiDer = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const { digest, signatureAlgorithmDer } = signatureSchemeFor(spkiDer);
  return {
    spkiDer,
    digest,
    signatureAlgorithmDer,
    // The common case (one part) takes the one-shot call; no extra work on the signing hot path.
    sign: async (parts) => {
      if (parts.length === 1) return nodeSign(digest, parts[0], { key, dsaEncoding: 'der' });
      const signer = createSign(digest);
      for (const part of parts) signer.update(part);
      return signer.sign({ key, dsaEncoding: 'der' });
    },
    close: async () => undefined,
  };
}

/** Checks a signature over parts against an SPKI (a CRL rebuilt from the ledger, a token's self-test). */
export function verifyParts(spki: KeyObject, digest: CaDigest, parts: readonly Uint8Array[], signature: Uint8Array): boolean {
  const verifier = createVerify(digest);
  for (const part of parts) verifier.update(part);
  return verifier.verify({ key: spki, dsaEncoding: 'der' }, signature);
}
