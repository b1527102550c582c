import { createHash } from 'node:crypto';
import {
  AuthorityInfoAccessExtension,
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  CRLDistributionPointsExtension,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
} from '@peculiar/x509';
import { children, content, readTlv } from './der';
import { OID } from './oids';

/** What every client certificate looks like; nothing from the CSR reaches it except subject and key. */
export interface IssuanceProfileParams {
  /** Default lifetime of an issued certificate. */
  readonly validityDays: number;
  /** Upper bound on the lifetime, whatever else is asked. */
  readonly maxValidityDays: number;
  /** notBefore is set this far in the past, for clients with slow clocks. */
  readonly backdateSeconds: number;
  /** Base URL of this service as relying parties reach it (CRL and CA certificate URLs). */
  readonly publicBaseUrl: string;
  /** The issuer whose certificates these are: its CRL and certificate URLs name it (unset: /crl and /ca.crt, the original issuer's). */
  readonly issuerId?: string;
}

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const DAY_MS = 86_400_000;

export class IssuanceProfile {
  constructor(readonly params: IssuanceProfileParams) {}

  get crlUrl(): string {
    return this.params.issuerId ? `${this.params.publicBaseUrl}/crl/${this.params.issuerId}` : `${this.params.publicBaseUrl}/crl`;
  }

  get caIssuersUrl(): string {
    return this.params.issuerId ? `${this.params.publicBaseUrl}/ca/${this.params.issuerId}.crt` : `${this.params.publicBaseUrl}/ca.crt`;
  }

  /** The same profile for the certificates of one issuer (its own CRL and certificate URLs). */
  forIssuer(issuerId: string | undefined): IssuanceProfile {
    return new IssuanceProfile({ ...this.params, issuerId });
  }

  get ocspUrl(): string {
    return `${this.params.publicBaseUrl}/ocsp`;
  }

  /** notBefore backdated by the skew; notAfter capped by the maximum and by the CA's own notAfter. */
  validity(now: Date, caNotAfter: Date): Validity {
    const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
    const notBefore = seconds(new Date(now.getTime() - this.params.backdateSeconds * 1000));
    const days = Math.min(this.params.validityDays, this.params.maxValidityDays);
    const wanted = now.getTime() + days * DAY_MS;
    const notAfter = seconds(new Date(Math.min(wanted, caNotAfter.getTime())));
    return { notBefore, notAfter };
  }

  /** The extensions of a client certificate, in the order they are encoded. */
  extensions(spkiDer: Uint8Array, keyType: 'RSA' | 'EC', caKeyIdHex: string): Extension[] {
    const usage = keyType === 'RSA' ? KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment : KeyUsageFlags.digitalSignature;
    return [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(usage, true),
      new ExtendedKeyUsageExtension([OID.clientAuth], false),
      new SubjectKeyIdentifierExtension(subjectKeyIdentifier(spkiDer), false),
      new AuthorityKeyIdentifierExtension(caKeyIdHex, false),
      new CRLDistributionPointsExtension([this.crlUrl], false),
      new AuthorityInfoAccessExtension({ ocsp: [this.ocspUrl], caIssuers: [this.caIssuersUrl] }, false),
    ];
  }
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. Hex. */
export function subjectKeyIdentifier(spkiDer: Uint8Array): string {
  const spki = readTlv(spkiDer, 0);
  const [, bits] = children(spkiDer, spki);
  const keyBits = content(spkiDer, bits).subarray(1); // skip the unused-bits byte
  return createHash('sha1').update(keyBits).digest('hex');
}
