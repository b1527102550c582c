import { createPublicKey, type KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { bitString, sequence } from '../domain/der';
import { encodePem } from '../domain/pem';
import { verifyParts, type CaSigner } from './ca-signer';

/** The algorithms a CA key can be generated with. */
export type CaKeyAlgorithm = 'ECDSA-P256' | 'ECDSA-P384' | 'RSA-2048' | 'RSA-3072' | 'RSA-4096';

export interface CaMaterial {
  /** The CA certificate that signs (root, or intermediate under an offline root). */
  readonly certificate: X509Certificate;
  /** Certificates above it, if any (PEM order: issuer first). */
  readonly chain: readonly X509Certificate[];
  /** Holds the CA key: every signature of the CA is made through it. */
  readonly signer: CaSigner;
}

/** The CA: its certificate, chain and signer. It never sees a private key, only the signer. */
export class CertificateAuthority {
  readonly certificate: X509Certificate;
  readonly chain: readonly X509Certificate[];
  /** Hex SKI of the CA key (used as AKI of everything it issues). */
  readonly keyId: string;
  /** PEM of the CA certificate followed by its chain. */
  readonly chainPem: string;
  readonly certificateDer: Buffer;
  readonly signer: CaSigner;
  /** The CA's subject Name, DER, as its certificate encodes it (the issuer of everything it signs). */
  readonly issuerDer: Buffer;
  private readonly publicKey: KeyObject;

  constructor(material: CaMaterial, keyId: string) {
    this.certificate = material.certificate;
    this.chain = material.chain;
    this.keyId = keyId;
    this.signer = material.signer;
    this.certificateDer = Buffer.from(material.certificate.rawData);
    this.issuerDer = Buffer.from(material.certificate.subjectName.toArrayBuffer());
    this.chainPem = [material.certificate, ...material.chain].map((c) => encodePem('CERTIFICATE', new Uint8Array(c.rawData))).join('');
    this.publicKey = createPublicKey({ key: material.signer.spkiDer, format: 'der', type: 'spki' });
    if (!Buffer.from(material.certificate.publicKey.rawData).equals(material.signer.spkiDer)) {
      throw new Error('the CA key does not match the CA certificate');
    }
  }

  get notAfter(): Date {
    return this.certificate.notAfter;
  }

  /** DER AlgorithmIdentifier of the CA's signatures. */
  get signatureAlgorithmDer(): Buffer {
    return this.signer.signatureAlgorithmDer;
  }

  /** Signs to-be-signed DER given in parts (a TBSCertList, a TBSCertificate); the X.509 signature value. */
  signTbs(parts: readonly Uint8Array[]): Promise<Buffer> {
    return this.signer.sign(parts);
  }

  /** Signs a TBSCertificate and frames it: the DER Certificate. */
  async signCertificate(tbs: Buffer): Promise<Buffer> {
    return sequence(tbs, this.signer.signatureAlgorithmDer, bitString(await this.signer.sign([tbs])));
  }

  /** Checks a signature of this CA over a TBS given in parts (a CRL rebuilt from the ledger). */
  verifyTbsParts(parts: readonly Uint8Array[], signature: Uint8Array): boolean {
    return verifyParts(this.publicKey, this.signer.digest, parts, signature);
  }
}
