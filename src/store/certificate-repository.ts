import type { AuditRecord, UnsequencedEntry } from '../domain/audit-event';
import type { CertificateStatus, IssuedCertificate, Revocation } from '../domain/certificate';
import { CaError } from '../domain/errors';
import { reasonCode, reasonFromCode } from '../domain/revocation-reasons';
import type { Certificate as CertificateRow } from '../generated/prisma/client';
import { GroupCommitter } from './group-commit';
import { WebhookRepository } from './webhook-repository';
import { isDataError, ledgerCall } from './ledger-errors';
import type { PrismaClient } from './prisma-client';
import { CRL_LOCK_KEY } from './crl-repository';
import { SqlConditions, type SqlDatabase } from './sql';
import { appendedRecords, auditAppendParams, auditAppendQuery, type AppendedRow } from './audit-repository';

export function toIssuedCertificate(row: CertificateRow): IssuedCertificate {
  return {
    serialNumber: row.serialNumber,
    account: row.account,
    commonName: row.commonName,
    subject: row.subject,
    publicKeySha256: row.publicKeySha256,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    issuerKeyId: row.issuerKeyId,
    pem: row.pem,
    issuedAt: row.issuedAt,
    requestedBy: row.requestedBy,
    revocation:
      row.revokedAt && row.revocationReason !== null
        ? { revokedAt: row.revokedAt, reason: reasonFromCode(row.revocationReason), revokedBy: row.revokedBy ?? '' }
        : null,
    ...(row.renewedFrom ? { renewedFrom: row.renewedFrom } : {}),
  };
}

function toRow(cert: IssuedCertificate): CertificateRow {
  return {
    serialNumber: cert.serialNumber,
    account: cert.account,
    commonName: cert.commonName,
    subject: cert.subject,
    publicKeySha256: cert.publicKeySha256,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    issuerKeyId: cert.issuerKeyId,
    pem: cert.pem,
    issuedAt: cert.issuedAt,
    requestedBy: cert.requestedBy,
    revokedAt: cert.revocation?.revokedAt ?? null,
    revocationReason: cert.revocation ? reasonCode(cert.revocation.reason) : null,
    revokedBy: cert.revocation?.revokedBy ?? null,
    revocationSeq: null,
    renewedFrom: cert.renewedFrom ?? null,
  };
}

/** A certificate waiting for the group commit, with the audit record that commits with it; the flush fills in `stored`. */
interface PendingCertificate {
  readonly cert: IssuedCertificate;
  readonly audit: UnsequencedEntry | null;
  stored?: AuditRecord;
}

/** The certificate ledger: every issued certificate, its revocation, and the queries over them. */
export class CertificateRepository {
  private readonly committer: GroupCommitter<PendingCertificate>;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly sql: SqlDatabase,
    options: { maxInFlight?: number; maxWaitMs?: number; gatherTurn?: boolean } = {},
  ) {
    // One batch in flight per process by default: every batch takes the audit lock (audit_append), so a
    // second one would mostly wait for it; letting the next batch grow instead signs 10-15 % more per
    // second with two workers on one PostgreSQL (measured).
    this.committer = new GroupCommitter<PendingCertificate>(
      (rows) => this.insertMany(rows),
      (row) => this.insertMany([row]),
      { maxBatch: 500, maxInFlight: options.maxInFlight ?? 1, maxWaitMs: options.maxWaitMs, gatherTurn: options.gatherTurn, retrySingly: isDataError },
    );
  }

  /**
   * Commits one issued certificate, and with `audit` its audit record in the same statement (both or
   * neither); resolves only after the commit. Concurrent inserts are grouped into one multi-row
   * statement and one commit (group commit).
   */
  insert(cert: IssuedCertificate): Promise<null>;
  insert(cert: IssuedCertificate, audit: UnsequencedEntry): Promise<AuditRecord>;
  async insert(cert: IssuedCertificate, audit: UnsequencedEntry | null = null): Promise<AuditRecord | null> {
    const pending: PendingCertificate = { cert, audit };
    await ledgerCall('recording the certificate', () => this.committer.submit(pending));
    return pending.stored ?? null;
  }

  /**
   * One statement for a batch: the certificates (arrays unnested server-side) in a data-modifying CTE,
   * then their audit records appended to the chain by audit_append. Prepared; 25 parameters whatever
   * the batch size. The one-time filter on the CTE makes the certificates go in before audit_append
   * takes the audit lock, so the lock is held for as short a time as possible.
   */
  private async insertMany(pending: PendingCertificate[]): Promise<void> {
    const rows = pending.map((p) => toRow(p.cert));
    const col = <K extends keyof CertificateRow>(k: K) => rows.map((r) => r[k]);
    const audited = pending.filter((p) => p.audit !== null);
    const entries = audited.map((p) => p.audit!);
    const appended = await this.sql.query<AppendedRow>(
      `WITH inserted AS (
         INSERT INTO certificates (serial_number, account, common_name, subject, public_key_sha256, not_before, not_after,
           issuer_key_id, pem, issued_at, requested_by, revoked_at, revocation_reason, revoked_by, renewed_from)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
           $8::text[], $9::text[], $10::timestamptz[], $11::text[], $12::timestamptz[], $13::smallint[], $14::text[], $15::text[])
         RETURNING 1)
       ${auditAppendQuery(16)} WHERE (SELECT count(*) FROM inserted) >= 0`,
      [
        col('serialNumber'), col('account'), col('commonName'), col('subject'), col('publicKeySha256'),
        col('notBefore'), col('notAfter'), col('issuerKeyId'), col('pem'), col('issuedAt'), col('requestedBy'),
        col('revokedAt'), col('revocationReason'), col('revokedBy'), col('renewedFrom'),
        ...auditAppendParams(entries),
      ],
      { name: 'mtls_ca_insert_certificates_renewable' },
    );
    appendedRecords(entries, appended).forEach((record, i) => (audited[i].stored = record));
  }

  /**
   * Commits a renewal in one transaction: the new certificate (naming the one it renews), with
   * `revokeOld` the old one revoked (it must still be unrevoked, or nothing commits), and the audit record.
   */
  async insertRenewal(cert: IssuedCertificate, audit: UnsequencedEntry, revokeOld: Revocation | null): Promise<AuditRecord> {
    const renewedFrom = cert.renewedFrom;
    if (!renewedFrom) throw new Error('insertRenewal needs renewedFrom');
    const row = toRow(cert);
    return ledgerCall('recording the renewal', () =>
      this.sql.transaction(async (tx) => {
        await tx.query("SET LOCAL lock_timeout = '10s'");
        if (revokeOld) await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [CRL_LOCK_KEY]);
        // A certificate is renewed once: the old row is locked so two concurrent renewals of it cannot both commit.
        await tx.query('SELECT serial_number FROM certificates WHERE serial_number = $1 FOR UPDATE', [renewedFrom]);
        const earlier = await tx.query<{ serial_number: string }>('SELECT serial_number FROM certificates WHERE renewed_from = $1 LIMIT 1', [renewedFrom]);
        if (earlier.length > 0) {
          throw new CaError('conflict', `certificate ${renewedFrom} was already renewed (into ${earlier[0].serial_number}); renew that one`);
        }
        await tx.query(
          `INSERT INTO certificates (serial_number, account, common_name, subject, public_key_sha256, not_before, not_after,
             issuer_key_id, pem, issued_at, requested_by, renewed_from)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [row.serialNumber, row.account, row.commonName, row.subject, row.publicKeySha256, row.notBefore, row.notAfter,
            row.issuerKeyId, row.pem, row.issuedAt, row.requestedBy, row.renewedFrom],
        );
        // The insert trigger queued certificate.issued; subscribers of certificate.renewed hear it too, in this transaction.
        await WebhookRepository.emitRenewed(tx, { serialNumber: row.serialNumber, renewedFrom });
        if (revokeOld) {
          const updated = await tx.query<{ serial_number: string }>(
            `UPDATE certificates SET revoked_at = $2, revocation_reason = $3, revoked_by = $4,
               revocation_seq = nextval('certificates_revocation_seq')
             WHERE serial_number = $1 AND revoked_at IS NULL RETURNING serial_number`,
            [cert.renewedFrom, revokeOld.revokedAt, reasonCode(revokeOld.reason), revokeOld.revokedBy],
          );
          // Revoked by another request meanwhile: nothing commits.
          if (updated.length !== 1) throw new CaError('forbidden', 'the certificate was revoked meanwhile; it cannot be renewed');
        }
        const rows = await tx.query<AppendedRow>(auditAppendQuery(1), auditAppendParams([audit]));
        return appendedRecords([audit], rows)[0];
      }),
    );
  }

  /** The certificate a renewal issued from `serialNumber`, if it was renewed (the first, should old data hold several). */
  async findRenewalOf(serialNumber: string): Promise<IssuedCertificate | null> {
    const rows = await ledgerCall('reading a renewal', () =>
      this.sql.query<RawCertificateRow>(`SELECT ${COLUMNS} FROM certificates WHERE renewed_from = $1 ORDER BY issued_at, serial_number LIMIT 1`, [serialNumber]),
    );
    return rows.length === 1 ? fromRawRow(rows[0]) : null;
  }

  async findBySerial(serialNumber: string): Promise<IssuedCertificate | null> {
    const row = await ledgerCall('reading a certificate', () => this.prisma.certificate.findUnique({ where: { serialNumber } }));
    return row ? toIssuedCertificate(row) : null;
  }

  async count(): Promise<number> {
    return ledgerCall('counting certificates', () => this.prisma.certificate.count());
  }

  /**
   * Marks a certificate revoked unless it already is. Returns the certificate as it is afterwards
   * (with the original revocation if it was revoked before), or null for an unknown serial.
   */
  /**
   * Revokes; with `audit`, the revocation's audit record is appended in the same transaction, so the
   * two commit together or not at all (`audit` is set only when this call changed the ledger).
   */
  async revoke(
    serialNumber: string,
    revocation: Revocation,
    audit?: UnsequencedEntry,
  ): Promise<{ certificate: IssuedCertificate; changed: boolean; audit?: AuditRecord } | null> {
    return ledgerCall('recording the revocation', async () => {
      // Shared CRL lock: many revocations at once, but none while a CRL build reads (see CrlRepository).
      return this.sql.transaction(async (tx) => {
        await tx.query("SET LOCAL lock_timeout = '10s'");
        await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [CRL_LOCK_KEY]);
        const updated = await tx.query<RawCertificateRow>(
          `UPDATE certificates SET revoked_at = $2, revocation_reason = $3, revoked_by = $4,
             revocation_seq = nextval('certificates_revocation_seq')
           WHERE serial_number = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
          [serialNumber, revocation.revokedAt, reasonCode(revocation.reason), revocation.revokedBy],
        );
        if (updated.length === 1) {
          if (!audit) return { certificate: fromRawRow(updated[0]), changed: true };
          const rows = await tx.query<AppendedRow>(auditAppendQuery(1), auditAppendParams([audit]));
          return { certificate: fromRawRow(updated[0]), changed: true, audit: appendedRecords([audit], rows)[0] };
        }
        const current = await tx.query<RawCertificateRow>(`SELECT ${COLUMNS} FROM certificates WHERE serial_number = $1`, [serialNumber]);
        return current.length === 1 ? { certificate: fromRawRow(current[0]), changed: false } : null;
      });
    });
  }

  /**
   * One page of the ledger, newest first, by keyset over (issued_at, serial_number): served by
   * certificates_issued_idx or, for one account, certificates_account_issued_idx. No OFFSET.
   */
  async list(filter: CertificateFilter, page: { limit: number; after?: ListCursor }): Promise<IssuedCertificate[]> {
    const q = new SqlConditions();
    const param = (v: unknown) => q.param(v);
    if (filter.account !== undefined) q.add(`account = ${param(filter.account)}`);
    if (filter.commonName !== undefined) q.add(`common_name = ${param(filter.commonName)}`);
    if (filter.status === 'revoked') q.add('revoked_at IS NOT NULL');
    if (filter.status === 'valid') q.add(`revoked_at IS NULL AND not_after > ${param(filter.now)}`);
    if (filter.status === 'expired') q.add(`revoked_at IS NULL AND not_after <= ${param(filter.now)}`);
    if (filter.expiresBefore) q.add(`not_after < ${param(filter.expiresBefore)}`);
    if (filter.expiresAfter) q.add(`not_after > ${param(filter.expiresAfter)}`);
    if (filter.issuedBefore) q.add(`issued_at < ${param(filter.issuedBefore)}`);
    if (filter.issuedAfter) q.add(`issued_at > ${param(filter.issuedAfter)}`);
    if (page.after) q.add(`(issued_at, serial_number) < (${param(page.after.issuedAt)}, ${param(page.after.serialNumber)})`);
    const sql = `SELECT ${COLUMNS} FROM certificates ${q.where}
      ORDER BY issued_at DESC, serial_number DESC LIMIT ${param(page.limit)}`;
    const rows = await ledgerCall('listing certificates', () => this.sql.query<RawCertificateRow>(sql, q.params));
    return rows.map(fromRawRow);
  }
}

export interface CertificateFilter {
  /** Evaluation time for valid/expired. */
  readonly now: Date;
  readonly account?: string;
  readonly commonName?: string;
  readonly status?: CertificateStatus;
  readonly expiresBefore?: Date;
  readonly expiresAfter?: Date;
  readonly issuedBefore?: Date;
  readonly issuedAfter?: Date;
}

export interface ListCursor {
  readonly issuedAt: Date;
  readonly serialNumber: string;
}

const COLUMNS = `serial_number, account, common_name, subject, public_key_sha256, not_before, not_after, issuer_key_id,
  pem, issued_at, requested_by, revoked_at, revocation_reason, revoked_by, renewed_from`;

interface RawCertificateRow {
  serial_number: string;
  account: string;
  common_name: string;
  subject: string;
  public_key_sha256: string;
  not_before: Date | string;
  not_after: Date | string;
  issuer_key_id: string;
  pem: string;
  issued_at: Date | string;
  requested_by: string;
  revoked_at: Date | string | null;
  revocation_reason: number | null;
  revoked_by: string | null;
  renewed_from: string | null;
}

function fromRawRow(r: RawCertificateRow): IssuedCertificate {
  return toIssuedCertificate({
    serialNumber: r.serial_number,
    account: r.account,
    commonName: r.common_name,
    subject: r.subject,
    publicKeySha256: r.public_key_sha256,
    notBefore: new Date(r.not_before),
    notAfter: new Date(r.not_after),
    issuerKeyId: r.issuer_key_id,
    pem: r.pem,
    issuedAt: new Date(r.issued_at),
    requestedBy: r.requested_by,
    revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
    revocationReason: r.revocation_reason,
    revokedBy: r.revoked_by,
    revocationSeq: null,
    renewedFrom: r.renewed_from,
  });
}
