import type { AuditOrigin, AuditRecord, AuditSink, UnsequencedEntry } from '../domain/audit-event';
import type { CertificateAuthority } from '../ca/certificate-authority';
import { Issuer } from '../ca/issuer';
import type { IssuedCertificate } from '../domain/certificate';
import type { Clock } from '../domain/clock';
import { checkCertificateRequest, csrDerFromBody, type CertificateRequestInfo } from '../domain/csr-policy';

/** What issuance reads of a checked request. */
export type CheckedRequest = Pick<CertificateRequestInfo, 'subjectDer' | 'subject' | 'commonName' | 'account' | 'spkiDer' | 'publicKeySha256' | 'keyType'>;
import { CaError } from '../domain/errors';
import type { IssuanceProfile } from '../domain/issuance-profile';
import { mayActOnAccount, type Principal } from '../domain/permissions';
import { serialToHex, type SerialSource } from '../domain/serial-number';

/** The narrow part of the ledger that signing needs. */
export interface CertificateLedgerWriter {
  /** Commits the certificate and its audit record together. */
  insert(cert: IssuedCertificate, audit: UnsequencedEntry): Promise<AuditRecord>;
}

/** Told of each certificate issued (metrics); must not throw. */
export interface IssuanceObserver {
  issued(account: string): void;
}

export interface SigningServiceDeps {
  readonly ca: CertificateAuthority;
  readonly profile: IssuanceProfile;
  readonly ledger: CertificateLedgerWriter;
  readonly clock: Clock;
  readonly serials: SerialSource;
  readonly audit: AuditSink;
  readonly observer?: IssuanceObserver;
}

/** Read → check policy → authorize → prepare → check → sign → record (ledger, then audit trail) → return. */
export class SigningService {
  private readonly issuer: Issuer;

  constructor(private readonly deps: SigningServiceDeps) {
    this.issuer = new Issuer(deps.ca, deps.profile);
  }

  async sign(principal: Principal, body: Uint8Array, origin: AuditOrigin): Promise<IssuedCertificate> {
    return this.issue(principal, await checkCertificateRequest(csrDerFromBody(body)), origin);
  }

  /** Issues from a request the CSR policy accepted (a CSR, or one the service made for a key it keeps). */
  async issue(principal: Principal, request: CheckedRequest, origin: AuditOrigin): Promise<IssuedCertificate> {
    const { ca, profile, ledger, clock, serials, audit } = this.deps;
    if (!mayActOnAccount(principal, request.account)) {
      throw new CaError('account-mismatch', `the CSR's OU "${request.account}" is not this key's account "${principal.account}"`);
    }
    const now = clock.now();
    const validity = profile.validity(now, ca.notAfter);
    if (validity.notAfter.getTime() <= now.getTime()) {
      throw new CaError('not-ready', 'the CA certificate has expired; no certificate can be issued');
    }
    const serialNumber = serials.next();
    // prepare (build from the validated parts, check the invariants) → sign, through the CA's signer.
    const certificate = await this.issuer.sign(this.issuer.prepare(request, serialNumber, validity));
    const issued: IssuedCertificate = {
      serialNumber: serialToHex(serialNumber),
      account: request.account,
      commonName: request.commonName,
      subject: request.subject,
      publicKeySha256: request.publicKeySha256,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      issuerKeyId: ca.keyId,
      pem: certificate.pem,
      issuedAt: now,
      requestedBy: principal.appKey,
      revocation: null,
    };
    // The certificate and its audit record commit together; the certificate leaves the server only after.
    await audit.record(
      {
        ...origin,
        action: 'certificate.sign',
        outcome: 'success',
        actor: principal.appKey,
        account: issued.account,
        serialNumber: issued.serialNumber,
        details: { commonName: issued.commonName },
      },
      (entry) => ledger.insert(issued, entry),
    );
    this.deps.observer?.issued(issued.account);
    return issued;
  }
}
