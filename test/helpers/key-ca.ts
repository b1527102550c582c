import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { keyObjectSigner } from '../../src/ca/ca-signer';
import { CertificateAuthority, type CaKeyAlgorithm } from '../../src/ca/certificate-authority';
import { selfSignRoot } from '../../src/ca/root-certificate';
import { subjectKeyIdentifier } from '../../src/domain/issuance-profile';
import { randomSerialSource } from '../../src/domain/serial-number';

/** A root CA whose key is a KeyObject the test keeps (for reference signers), built the way a token-held CA is. */
export async function keyObjectCa(keyAlgorithm: CaKeyAlgorithm, subject = 'CN=Test Root,O=mtls-ca', now = new Date(), validityDays = 3650): Promise<{ ca: CertificateAuthority; key: KeyObject }> {
  const key =
    keyAlgorithm === 'ECDSA-P256' || keyAlgorithm === 'ECDSA-P384'
      ? generateKeyPairSync('ec', { namedCurve: keyAlgorithm === 'ECDSA-P256' ? 'P-256' : 'P-384' }).privateKey
      : generateKeyPairSync('rsa', { modulusLength: Number(keyAlgorithm.slice(4)) }).privateKey;
  const signer = keyObjectSigner(key);
  const certificate = await selfSignRoot(signer, { subject, validityDays, serialNumber: randomSerialSource.next(), now });
  return { ca: new CertificateAuthority({ certificate, chain: [], signer }, subjectKeyIdentifier(signer.spkiDer)), key };
}
