import { AuthorityKeyIdentifierExtension, X509Certificate } from '@peculiar/x509';
import type { CaKeyBackend } from './ca-identity';
import type { CertificateAuthority } from './certificate-authority';

export type IssuerState = 'pending' | 'active' | 'retired';

/** One issuer as the ledger keeps it (migration 0009). */
export interface IssuerRecord {
  readonly id: string;
  /** Hex SKI of its key: certificates.issuer_key_id of everything it signs. */
  readonly keyId: string;
  readonly spkiSha256: string;
  readonly state: IssuerState;
  readonly backend: CaKeyBackend;
  /** Its certificate and chain; null while a CSR waits for an offline root. */
  readonly chainPem: string | null;
  readonly csrPem: string | null;
  /** The issuer of the CA identity pinned before issuers existed: its certificates name /crl and /ca.crt. */
  readonly original: boolean;
  readonly createdAt: Date;
}

/** An issuer this replica has loaded: its record, its certificate, and (once it has one) its CA. */
export interface LoadedIssuer {
  readonly record: IssuerRecord;
  readonly certificate: X509Certificate | null;
  /** Null for a pending issuer without a certificate yet. */
  readonly ca: CertificateAuthority | null;
}

/**
 * The lookup other features use: which of this CA's issuers signed a certificate, which one signs now,
 * and all of them. A snapshot: the registry replaces it when a rotation is seen.
 */
export class IssuerSet {
  private readonly byKeyId: Map<string, LoadedIssuer>;

  constructor(readonly issuers: readonly LoadedIssuer[]) {
    this.byKeyId = new Map(issuers.map((i) => [i.record.keyId, i]));
  }

  all(): readonly LoadedIssuer[] {
    return this.issuers;
  }

  active(): LoadedIssuer | null {
    return this.issuers.find((i) => i.record.state === 'active') ?? null;
  }

  original(): LoadedIssuer | null {
    return this.issuers.find((i) => i.record.original) ?? null;
  }

  byId(id: string): LoadedIssuer | null {
    return this.issuers.find((i) => i.record.id === id) ?? null;
  }

  withKeyId(keyId: string): LoadedIssuer | null {
    return this.byKeyId.get(keyId) ?? null;
  }

  /** The issuer whose key signed `certificate` (matched by authority key id, proven by the signature), or null. */
  async issuerOf(certificate: X509Certificate | Uint8Array | string): Promise<LoadedIssuer | null> {
    const cert = certificate instanceof X509Certificate ? certificate : typeof certificate === 'string' ? new X509Certificate(certificate) : new X509Certificate(new Uint8Array(certificate));
    const aki = cert.getExtension(AuthorityKeyIdentifierExtension)?.keyId;
    const candidates = aki ? [this.byKeyId.get(aki)].filter((i): i is LoadedIssuer => Boolean(i)) : this.issuers;
    for (const issuer of candidates) {
      if (!issuer.certificate) continue;
      if (cert.issuer !== issuer.certificate.subject) continue;
      if (await cert.verify({ publicKey: issuer.certificate.publicKey, signatureOnly: true })) return issuer;
    }
    return null;
  }

  /**
   * The trust bundle: every issuer that is pending, active, or retired with certificates that may still
   * be valid (its own certificate unexpired), the active one first.
   */
  bundle(now: Date): LoadedIssuer[] {
    const shown = this.issuers.filter((i) => i.certificate && (i.record.state !== 'retired' || i.certificate.notAfter > now));
    return [...shown.filter((i) => i.record.state === 'active'), ...shown.filter((i) => i.record.state !== 'active')];
  }
}
