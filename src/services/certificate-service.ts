import { NothingToRecord, type AuditEvent, type AuditOrigin, type AuditRecord, type AuditSink, type UnsequencedEntry } from '../domain/audit-event';
import { certificateStatus, type CertificateStatus, type IssuedCertificate } from '../domain/certificate';
import type { Clock } from '../domain/clock';
import { CaError } from '../domain/errors';
import { isAdmin, isReservedAccount, mayActOnAccount, type Principal } from '../domain/permissions';
import { parseRevocationReason, type RevocationReason } from '../domain/revocation-reasons';
import { normalizeSerialNumber } from '../domain/serial-number';
import type { CertificateFilter, ListCursor } from '../store/certificate-repository';

/** The narrow part of the ledger this service needs. */
export interface CertificateLedger {
  findBySerial(serialNumber: string): Promise<IssuedCertificate | null>;
  revoke(
    serialNumber: string,
    revocation: NonNullable<IssuedCertificate['revocation']>,
    audit?: UnsequencedEntry,
  ): Promise<{ certificate: IssuedCertificate; changed: boolean; audit?: AuditRecord } | null>;
  list(filter: CertificateFilter, page: { limit: number; after?: ListCursor }): Promise<IssuedCertificate[]>;
}

/** Told of each revocation that changed the ledger (metrics); must not throw. */
export interface RevocationObserver {
  revoked(account: string, reason: RevocationReason): void;
}

export interface ListQuery {
  status?: CertificateStatus;
  commonName?: string;
  account?: string;
  expiresBefore?: Date;
  expiresAfter?: Date;
  issuedBefore?: Date;
  issuedAfter?: Date;
  limit: number;
  cursor?: string;
}

export interface CertificatePage {
  items: Array<IssuedCertificate & { status: CertificateStatus }>;
  nextCursor: string | null;
}

/** Reading, searching and revoking ledger entries, always within the caller's account (admins: any). */
export class CertificateService {
  constructor(
    private readonly ledger: CertificateLedger,
    private readonly clock: Clock,
    /**
     * Told after every revocation that changed the ledger, before it is answered (the OCSP cache and
     * the CRL publisher); also after finding one made concurrently, whose own call may not have run yet.
     */
    private readonly onRevoked: (issuerKeyId?: string) => void,
    private readonly audit: AuditSink,
    private readonly observer?: RevocationObserver,
  ) {}

  /** A certificate of the caller's account; 404 for unknown serials and for other accounts alike. */
  async get(principal: Principal, serialInput: string): Promise<IssuedCertificate & { status: CertificateStatus }> {
    const cert = await this.ledger.findBySerial(normalizeSerialNumber(serialInput));
    if (!cert || !mayActOnAccount(principal, cert.account)) throw notFound();
    return { ...cert, status: certificateStatus(cert, this.clock.now()) };
  }

  /**
   * Revokes once; revoking again answers the original revocation unchanged. Both are audited; a
   * revocation that changes the ledger commits together with its audit record.
   */
  async revoke(principal: Principal, serialInput: string, reasonInput: unknown, origin: AuditOrigin): Promise<IssuedCertificate> {
    const serialNumber = normalizeSerialNumber(serialInput);
    const reason = parseRevocationReason(reasonInput as string | number | undefined);
    const existing = await this.ledger.findBySerial(serialNumber);
    if (!existing || !mayActOnAccount(principal, existing.account)) throw notFound();
    if (isReservedAccount(existing.account)) {
      // The service's own OCSP signers: short-lived, replaced on their own, and (id-pkix-ocsp-nocheck) never checked for revocation.
      throw new CaError(
        'forbidden',
        `the service's own certificates (account ${existing.account}) cannot be revoked through the API; restart the service to replace its OCSP signer`,
      );
    }
    const event = (cert: IssuedCertificate, changed: boolean): AuditEvent => ({
      ...origin,
      action: 'certificate.revoke',
      outcome: 'success',
      actor: principal.appKey,
      account: cert.account,
      serialNumber: cert.serialNumber,
      details: { reason: cert.revocation?.reason ?? reason, ...(changed ? {} : { alreadyRevoked: 'true' }) },
    });
    if (!existing.revocation) {
      let result: Awaited<ReturnType<CertificateLedger['revoke']>> = null;
      try {
        await this.audit.record(event(existing, true), async (entry) => {
          result = await this.ledger.revoke(serialNumber, { revokedAt: this.clock.now(), reason, revokedBy: principal.appKey }, entry);
          if (!result) throw notFound();
          // Revoked by another request meanwhile: answered (and audited) below as already revoked.
          if (!result.audit) throw new NothingToRecord('revoked concurrently');
          return result.audit;
        });
      } catch (err) {
        if (!(err instanceof NothingToRecord)) throw err;
      }
      const done = result as Awaited<ReturnType<CertificateLedger['revoke']>>;
      if (done?.changed) {
        this.onRevoked(done.certificate.issuerKeyId);
        this.observer?.revoked(done.certificate.account, reason);
        return done.certificate;
      }
      if (done) {
        this.onRevoked(done.certificate.issuerKeyId);
        await this.audit.record(event(done.certificate, false));
        return done.certificate;
      }
    }
    await this.audit.record(event(existing, false));
    return existing;
  }

  async list(principal: Principal, query: ListQuery): Promise<CertificatePage> {
    if (query.account !== undefined && !isAdmin(principal) && query.account !== principal.account) {
      throw new CaError('forbidden', 'only admins may list other accounts');
    }
    if (!mayActOnAccount(principal, query.account ?? principal.account)) {
      throw new CaError('forbidden', `only admins may list the reserved account "${principal.account}"`);
    }
    const now = this.clock.now();
    const filter: CertificateFilter = {
      now,
      account: isAdmin(principal) ? query.account : principal.account,
      commonName: query.commonName,
      status: query.status,
      expiresBefore: query.expiresBefore,
      expiresAfter: query.expiresAfter,
      issuedBefore: query.issuedBefore,
      issuedAfter: query.issuedAfter,
    };
    const rows = await this.ledger.list(filter, { limit: query.limit + 1, after: query.cursor ? decodeCursor(query.cursor) : undefined });
    const items = rows.slice(0, query.limit).map((c) => ({ ...c, status: certificateStatus(c, now) }));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > query.limit && last ? encodeCursor({ issuedAt: last.issuedAt, serialNumber: last.serialNumber }) : null };
  }
}

function notFound(): CaError {
  return new CaError('not-found', 'no certificate with that serial number in your account');
}

export function encodeCursor(c: ListCursor): string {
  return Buffer.from(`${c.issuedAt.getTime()}.${c.serialNumber}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): ListCursor {
  const m = /^(\d{1,15})\.([0-9A-F]{2,40})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const issuedAt = m ? new Date(Number(m[1])) : null;
  if (!m || !issuedAt || issuedAt.getUTCFullYear() > 9999) throw new CaError('invalid-request', 'the cursor is not one this service returned');
  return { issuedAt, serialNumber: m[2] };
}
