import type { AuditOrigin, AuditRecord, AuditSink, UnsequencedEntry } from '../domain/audit-event';
import type { CertificateAuthority } from '../ca/certificate-authority';
import { Issuer, type IssuanceRequest } from '../ca/issuer';
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

/** The issuer that signs now (it changes when a rotation is activated). */
export interface SigningIssuer {
  readonly ca: CertificateAuthority;
  readonly issuer: Issuer;
}

export interface SigningServiceDeps {
  /** A fixed CA (tools, tests), or the active issuer, asked on each signing. */
  readonly ca: CertificateAuthority | (() => SigningIssuer);
  readonly profile: IssuanceProfile;
  readonly ledger: CertificateLedgerWriter;
  readonly clock: Clock;
  readonly serials: SerialSource;
  readonly audit: AuditSink;
  readonly observer?: IssuanceObserver;
}

/** Read → check policy → authorize → prepare → check → sign → record (ledger, then audit trail) → return. */
export class SigningService {
  private readonly current: () => SigningIssuer;

  constructor(private readonly deps: SigningServiceDeps) {
    const fixed = deps.ca;
    if (typeof fixed === 'function') this.current = fixed;
    else {
      const issuer = { ca: fixed, issuer: new Issuer(fixed, deps.profile) };
      this.current = () => issuer;
    }
  }

  async sign(principal: Principal, body: Uint8Array, origin: AuditOrigin): Promise<IssuedCertificate> {
    return this.signRequest(principal, await checkCertificateRequest(csrDerFromBody(body)), origin);
  }

  /** Issues from a request the CSR policy accepted (a CSR, or one the service made for a key it keeps). */
  async signRequest(principal: Principal, request: CheckedRequest, origin: AuditOrigin): Promise<IssuedCertificate> {
    if (!mayActOnAccount(principal, request.account)) {
      throw new CaError('account-mismatch', `the CSR's OU "${request.account}" is not this key's account "${principal.account}"`);
    }
    return this.issue(request, principal.appKey, (issued, commit) =>
      this.deps.audit.record(
        {
          ...origin,
          action: 'certificate.sign',
          outcome: 'success',
          actor: principal.appKey,
          account: issued.account,
          serialNumber: issued.serialNumber,
          details: { commonName: issued.commonName },
        },
        (entry) => commit(entry),
      ),
    );
  }

  /**
   * The one issuance path (sign and renew): validity from now under the profile, a new serial, prepare →
   * check → sign through the active CA's signer, then `record` (the ledger row and its audit record,
   * together; by default `ledger.insert`) before the certificate leaves the server.
   */
  async issue(
    request: IssuanceRequest & Pick<CertificateRequestInfo, 'account' | 'commonName' | 'subject' | 'publicKeySha256'>,
    requestedBy: string,
    record: (issued: IssuedCertificate, insert: (entry: UnsequencedEntry) => Promise<AuditRecord>) => Promise<void>,
    renewedFrom: string | null = null,
  ): Promise<IssuedCertificate> {
    const { profile, ledger, clock, serials } = this.deps;
    const { ca, issuer } = this.current();
    const now = clock.now();
    const validity = profile.validity(now, ca.notAfter);
    if (validity.notAfter.getTime() <= now.getTime()) {
      throw new CaError('not-ready', 'the CA certificate has expired; no certificate can be issued');
    }
    const serialNumber = serials.next();
    // prepare (build from the validated parts, check the invariants) → sign, through the CA's signer.
    const certificate = await issuer.sign(issuer.prepare(request, serialNumber, validity));
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
      requestedBy,
      revocation: null,
      renewedFrom,
    };
    // The certificate and its audit record commit together; the certificate leaves the server only after.
    await record(issued, (entry) => ledger.insert(issued, entry));
    this.deps.observer?.issued(issued.account);
    return issued;
  }
}
