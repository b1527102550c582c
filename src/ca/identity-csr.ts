import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { Name, Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import type { HeldKey } from './key-pair';

/** The webcrypto algorithm that signs with a held key (the hash follows the key size). */
function signingAlgorithm(key: HeldKey): { importAlg: RsaHashedImportParams | EcKeyImportParams; signAlg: Algorithm | EcdsaParams } {
  if (key.keyType === 'EC') {
    const curve = key.description.slice('EC-'.length);
    const hash = curve === 'P-521' ? 'SHA-512' : curve === 'P-384' ? 'SHA-384' : 'SHA-256';
    return { importAlg: { name: 'ECDSA', namedCurve: curve }, signAlg: { name: 'ECDSA', hash } as EcdsaParams };
  }
  return { importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm };
}

/**
 * A PKCS#10 request (PEM) for a partner's CA: the subject `subjectDer` (encodeSubject), the public half of
 * `key`, signed with it. No attributes or requested extensions: the partner's CA decides its profile.
 */
export async function certificateRequestPem(key: HeldKey, subjectDer: Buffer): Promise<string> {
  const { importAlg, signAlg } = signingAlgorithm(key);
  const subtle = webcrypto.subtle;
  const pkcs8 = key.privateKey.export({ type: 'pkcs8', format: 'der' });
  const keys = {
    privateKey: await subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign']),
    publicKey: await subtle.importKey('spki', key.spkiDer, importAlg, true, ['verify']),
  };
  const csr = await Pkcs10CertificateRequestGenerator.create(
    { name: new Name(new Uint8Array(subjectDer)), keys: keys as CryptoKeyPair, signingAlgorithm: signAlg },
    webcrypto as unknown as Crypto,
  );
  return csr.toString('pem');
}
