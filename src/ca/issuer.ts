import { CaError } from '../domain/errors';
import type { IssuanceProfile, Validity } from '../domain/issuance-profile';
import { encodePem } from '../domain/pem';
import type { CertificateAuthority } from './certificate-authority';
import { checkTbsCertificate, IssuanceCheckError } from './certificate-check';
import { CertificateTemplate, subjectKeyIdentifierBytes, type KeyType } from './certificate-template';
import { encodeSubject, subjectAttributes } from './subject-name';

/** The validated parts of a request: nothing else from a CSR reaches a certificate. */
export interface IssuanceRequest {
  /** The subject Name the CSR policy accepted; its values are re-encoded, its bytes never copied. */
  readonly subjectDer: Uint8Array;
  readonly spkiDer: Uint8Array;
  readonly keyType: KeyType;
}

/** A checked to-be-signed certificate; only the issuer that prepared it signs it, once. */
export class PreparedCertificate {
  #signable: Issuer | null;

  constructor(
    issuer: Issuer,
    readonly tbs: Buffer,
    readonly serialNumber: Uint8Array,
    readonly validity: Validity,
    /** The re-encoded subject. */
    readonly subjectDer: Buffer,
  ) {
    this.#signable = issuer;
  }

  /** True once, for the issuer that prepared it. */
  static take(prepared: PreparedCertificate, issuer: Issuer): boolean {
    if (!(prepared instanceof PreparedCertificate) || prepared.#signable !== issuer) return false;
    prepared.#signable = null;
    return true;
  }
}

const DAY_MS = 86_400_000;

/**
 * Issuance in three explicit steps, as Boulder's issuance package does: `prepare` builds the
 * TBSCertificate from the validated parts and the profile and `check`s it; `sign` signs a prepared
 * certificate through the CA's signer, once.
 */
export class Issuer {
  private readonly template: CertificateTemplate;
  private readonly maxLifetimeMs: number;

  constructor(
    private readonly ca: CertificateAuthority,
    profile: IssuanceProfile,
  ) {
    this.template = new CertificateTemplate({ issuerDer: ca.issuerDer, signatureAlgorithmDer: ca.signatureAlgorithmDer, keyId: ca.keyId }, profile);
    this.maxLifetimeMs = profile.params.maxValidityDays * DAY_MS + profile.params.backdateSeconds * 1000;
  }

  /** Builds and checks the TBSCertificate; throws IssuanceCheckError when an invariant does not hold. */
  prepare(request: IssuanceRequest, serialNumber: Uint8Array, validity: Validity): PreparedCertificate {
    const subjectDer = encodeSubject(subjectAttributes(request.subjectDer));
    const subjectKeyId = subjectKeyIdentifierBytes(request.spkiDer);
    const tbs = this.template.tbs({ serialNumber, validity, subjectDer, spkiDer: request.spkiDer, keyType: request.keyType, subjectKeyId });
    this.check(tbs, request, subjectKeyId);
    return new PreparedCertificate(this, tbs, serialNumber, validity, subjectDer);
  }

  /** The invariants of every certificate this CA issues (see checkTbsCertificate). */
  check(tbs: Buffer, request: Pick<IssuanceRequest, 'spkiDer' | 'keyType'>, subjectKeyId = subjectKeyIdentifierBytes(request.spkiDer)): void {
    checkTbsCertificate(tbs, {
      signatureAlgorithmDer: this.ca.signatureAlgorithmDer,
      issuerDer: this.ca.issuerDer,
      caNotAfter: this.ca.notAfter,
      maxLifetimeMs: this.maxLifetimeMs,
      spkiDer: request.spkiDer,
      subjectKeyId,
      extensions: this.template.extensions[request.keyType],
    });
  }

  /** Signs a certificate this issuer prepared (and has not signed yet) through the CA's signer. */
  async sign(prepared: PreparedCertificate): Promise<{ der: Buffer; pem: string }> {
    if (!PreparedCertificate.take(prepared, this)) throw new IssuanceCheckError('refusing to sign: not prepared by this issuer, or already signed');
    let der: Buffer;
    try {
      der = await this.ca.signCertificate(prepared.tbs);
    } catch (cause) {
      // The signer failed (a token unplugged, a session lost): nothing was issued; the caller may retry.
      throw new CaError('not-ready', 'the CA key could not sign just now; try again later', { cause, retryAfterSeconds: 1 });
    }
    return { der, pem: encodePem('CERTIFICATE', der) };
  }
}
