import { createPublicKey, createSign, createVerify, sign as nodeSign, type KeyObject } from 'node:crypto';
import { Name, PublicKey, X509Certificate, X509CertificateGenerator, type Extension } from '@peculiar/x509';
import type { CertificateRequestInfo } from './csr-policy';
import type { IssuanceProfile, Validity } from './issuance-profile';
import { CertificateTemplate } from './certificate-template';
import { bitString, NULL, objectIdentifier, sequence } from './der';
import { OID } from './oids';
import { encodePem } from './pem';

/** The algorithms a CA key can sign with. */
export type CaKeyAlgorithm = 'ECDSA-P256' | 'ECDSA-P384' | 'RSA-2048' | 'RSA-3072' | 'RSA-4096';

export interface CaMaterial {
  /** The CA certificate that signs (root, or intermediate under an offline root). */
  readonly certificate: X509Certificate;
  /** Certificates above it, if any (PEM order: issuer first). */
  readonly chain: readonly X509Certificate[];
  /** Non-extractable WebCrypto private key (for @peculiar/x509). */
  readonly privateKey: CryptoKey;
  /** The same key as a node:crypto KeyObject (for signing CRLs and pre-encoded TBS data). */
  readonly keyObject: KeyObject;
}

export interface IssueParams {
  readonly request: CertificateRequestInfo;
  readonly serialNumber: Uint8Array;
  readonly validity: Validity;
}

/** Signs with the CA key. Pure: the key and crypto provider come in, certificates go out. */
export class CertificateAuthority {
  readonly certificate: X509Certificate;
  readonly chain: readonly X509Certificate[];
  /** Hex SKI of the CA key (used as AKI of everything it issues). */
  readonly keyId: string;
  /** PEM of the CA certificate followed by its chain. */
  readonly chainPem: string;
  readonly certificateDer: Buffer;
  readonly signingAlgorithm: Algorithm | EcdsaParams;

  constructor(
    material: CaMaterial,
    keyId: string,
    private readonly crypto: Crypto,
  ) {
    this.certificate = material.certificate;
    this.chain = material.chain;
    this.keyId = keyId;
    this.privateKey = material.privateKey;
    this.certificateDer = Buffer.from(material.certificate.rawData);
    this.chainPem = [material.certificate, ...material.chain].map((c) => encodePem('CERTIFICATE', new Uint8Array(c.rawData))).join('');
    this.signingAlgorithm = signingAlgorithmFor(material.privateKey);
    this.keyObject = material.keyObject;
    const hash = (this.signingAlgorithm as EcdsaParams).hash as string | undefined;
    this.digest = (hash ?? 'SHA-256').replace('-', '').toLowerCase();
    this.signatureAlgorithmDer = signatureAlgorithmIdentifier(this.signingAlgorithm);
  }

  private readonly privateKey: CryptoKey;
  private readonly keyObject: KeyObject;
  private readonly digest: string;
  /** DER AlgorithmIdentifier of the CA's signatures. */
  readonly signatureAlgorithmDer: Buffer;

  get notAfter(): Date {
    return this.certificate.notAfter;
  }

  /** The pre-encoded issuance profile for this CA (build once, reuse for every certificate). */
  template(profile: IssuanceProfile): CertificateTemplate {
    return new CertificateTemplate({ issuerDer: this.issuerDer, signatureAlgorithmDer: this.signatureAlgorithmDer, keyId: this.keyId }, profile);
  }

  /** The CA's subject Name, DER, as its certificate encodes it. */
  get issuerDer(): Uint8Array {
    return new Uint8Array(this.certificate.subjectName.toArrayBuffer());
  }

  /** Issues a certificate of the CA's own making (the delegated OCSP signer): subject, key and extensions given. */
  async issueInternal(params: { serialNumber: Uint8Array; subject: Name; publicKey: CryptoKey; validity: Validity; extensions: Extension[] }): Promise<X509Certificate> {
    return X509CertificateGenerator.create(
      {
        serialNumber: Buffer.from(params.serialNumber).toString('hex'),
        subject: params.subject,
        issuer: new Name(this.certificate.subjectName.toArrayBuffer()),
        notBefore: params.validity.notBefore,
        notAfter: params.validity.notAfter,
        publicKey: params.publicKey,
        signingKey: this.privateKey,
        signingAlgorithm: this.signingAlgorithm,
        extensions: params.extensions,
      },
      this.crypto,
    );
  }

  /** The CA's key as a node:crypto KeyObject, for signers that sign with the CA key itself. */
  get signingKeyObject(): KeyObject {
    return this.keyObject;
  }

  /** The digest of the CA's signatures (node:crypto name). */
  get digestName(): string {
    return this.digest;
  }

  /** The reference path: issues through @peculiar/x509's X509CertificateGenerator. */
  async issue(params: IssueParams, profile: IssuanceProfile): Promise<X509Certificate> {
    const { request, serialNumber, validity } = params;
    return X509CertificateGenerator.create(
      {
        serialNumber: Buffer.from(serialNumber).toString('hex'),
        subject: new Name(new Uint8Array(request.subjectDer)),
        issuer: new Name(this.certificate.subjectName.toArrayBuffer()),
        notBefore: validity.notBefore,
        notAfter: validity.notAfter,
        publicKey: new PublicKey(new Uint8Array(request.spkiDer)),
        signingKey: this.privateKey,
        signingAlgorithm: this.signingAlgorithm,
        extensions: profile.extensions(request.spkiDer, request.keyType, this.keyId),
      },
      this.crypto,
    );
  }

  /** The fast path: assembles the TBSCertificate from the pre-encoded template and signs it natively. */
  issueFromTemplate(params: IssueParams, template: CertificateTemplate): { der: Buffer; pem: string } {
    const tbs = template.tbs({
      serialNumber: params.serialNumber,
      validity: params.validity,
      subjectDer: params.request.subjectDer,
      spkiDer: params.request.spkiDer,
      keyType: params.request.keyType,
    });
    const der = sequence(tbs, this.signatureAlgorithmDer, bitString(this.signTbs(tbs)));
    return { der, pem: encodePem('CERTIFICATE', der) };
  }

  /** Signs to-be-signed DER (a TBSCertList, a TBSCertificate) with the CA key; the X.509 signature value. */
  signTbs(tbs: Uint8Array): Buffer {
    return nodeSign(this.digest, tbs, { key: this.keyObject, dsaEncoding: 'der' });
  }

  /** Checks a signature of this CA over a TBS given in parts (a CRL rebuilt from the ledger). */
  verifyTbsParts(parts: readonly Uint8Array[], signature: Uint8Array): boolean {
    const verifier = createVerify(this.digest);
    for (const part of parts) verifier.update(part);
    return verifier.verify({ key: this.publicKey, dsaEncoding: 'der' }, signature);
  }

  private get publicKey(): KeyObject {
    return (this.cachedPublicKey ??= createPublicKey(this.keyObject));
  }

  private cachedPublicKey: KeyObject | undefined;

  /** The same over a TBS given in parts (hashed in order, never joined). */
  signTbsParts(parts: readonly Uint8Array[]): Buffer {
    const signer = createSign(this.digest);
    for (const part of parts) signer.update(part);
    return signer.sign({ key: this.keyObject, dsaEncoding: 'der' });
  }
}

export function signingAlgorithmFor(key: CryptoKey): Algorithm | EcdsaParams {
  const alg = key.algorithm as EcKeyAlgorithm | RsaHashedKeyAlgorithm;
  if (alg.name === 'ECDSA') {
    const curve = (alg as EcKeyAlgorithm).namedCurve;
    return { name: 'ECDSA', hash: curve === 'P-384' ? 'SHA-384' : curve === 'P-521' ? 'SHA-512' : 'SHA-256' } as EcdsaParams;
  }
  return { name: 'RSASSA-PKCS1-v1_5' };
}

function signatureAlgorithmIdentifier(alg: Algorithm | EcdsaParams): Buffer {
  if (alg.name === 'ECDSA') {
    const hash = (alg as EcdsaParams).hash;
    const oid = hash === 'SHA-384' ? OID.ecdsaWithSHA384 : hash === 'SHA-512' ? OID.ecdsaWithSHA512 : OID.ecdsaWithSHA256;
    return sequence(objectIdentifier(oid));
  }
  return sequence(objectIdentifier(OID.sha256WithRSA), NULL);
}
