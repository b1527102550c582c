import { randomUUID } from 'node:crypto';
import { CaError } from '../domain/errors';
import type { PartnerCertificate } from '../domain/partner-certificate';
import type { SqlDatabase, SqlRunner } from './sql';

export type PartnerTrustKind = 'anchor' | 'client';

/** A partner's CA or directly registered client certificate, as the registry lists it. */
export interface PartnerTrustEntry {
  readonly id: string;
  readonly kind: PartnerTrustKind;
  readonly account: string;
  readonly subject: string;
  readonly sha256: string;
  readonly certificate: string;
  readonly notBefore: string | null;
  readonly notAfter: string;
  readonly createdBy: string | null;
  readonly createdAt: string;
}

interface Row {
  id: string;
  account: string;
  subject: string;
  sha256: string;
  certificate: string;
  not_before?: Date | string;
  not_after: Date | string;
  created_by: string | null;
  created_at: Date | string;
}

const iso = (v: Date | string): string => new Date(v).toISOString();

function toEntry(kind: PartnerTrustKind, r: Row): PartnerTrustEntry {
  return {
    id: r.id,
    kind,
    account: r.account,
    subject: r.subject,
    sha256: r.sha256,
    certificate: r.certificate,
    notBefore: r.not_before ? iso(r.not_before) : null,
    notAfter: iso(r.not_after),
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
  };
}

const TABLE: Record<PartnerTrustKind, string> = { anchor: 'trust_anchors', client: 'registered_client_certificates' };
/** Serialises registrations of one account, so "at most two per subject" holds across replicas. */
const REGISTRY_LOCK = 7_270_381_211;

/** Migration 0011: the partners' trust anchors and registered client certificates. */
export class PartnerTrustRepository {
  constructor(private readonly sql: SqlDatabase) {}

  async addAnchor(account: string, cert: PartnerCertificate, createdBy: string | null): Promise<PartnerTrustEntry> {
    return this.sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [REGISTRY_LOCK]);
      await refuseDuplicate(tx, 'anchor', account, cert.sha256);
      const rows = await tx.query<Row>(
        `INSERT INTO trust_anchors (id, account, subject, sha256, certificate, not_after, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [randomUUID(), account, cert.subject, cert.sha256, cert.pem, cert.notAfter, createdBy],
      );
      return toEntry('anchor', rows[0]);
    });
  }

  /** Registers a client certificate; at most `maxPerSubject` active (unexpired at `now`) per account and subject. */
  async addClient(account: string, cert: PartnerCertificate, createdBy: string | null, now: Date, maxPerSubject: number): Promise<PartnerTrustEntry> {
    return this.sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [REGISTRY_LOCK]);
      await refuseDuplicate(tx, 'client', account, cert.sha256);
      const active = await tx.query<{ n: number | string }>(
        'SELECT count(*) AS n FROM registered_client_certificates WHERE account = $1 AND subject = $2 AND not_after > $3',
        [account, cert.subject, now],
      );
      if (Number(active[0].n) >= maxPerSubject) {
        throw new CaError('conflict', `account ${account} already has ${maxPerSubject} active certificates for ${cert.subject}; delete one to rotate`);
      }
      const rows = await tx.query<Row>(
        `INSERT INTO registered_client_certificates (id, account, subject, sha256, certificate, not_before, not_after, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
        [randomUUID(), account, cert.subject, cert.sha256, cert.pem, cert.notBefore, cert.notAfter, createdBy],
      );
      return toEntry('client', rows[0]);
    });
  }

  async list(kind: PartnerTrustKind, account?: string): Promise<PartnerTrustEntry[]> {
    const rows = account
      ? await this.sql.query<Row>(`SELECT * FROM ${TABLE[kind]} WHERE account = $1 ORDER BY created_at, id`, [account])
      : await this.sql.query<Row>(`SELECT * FROM ${TABLE[kind]} ORDER BY created_at, id`);
    return rows.map((r) => toEntry(kind, r));
  }

  /** Deletes one entry; returns it, or null when there is none. */
  async remove(kind: PartnerTrustKind, id: string): Promise<PartnerTrustEntry | null> {
    const rows = await this.sql.query<Row>(`DELETE FROM ${TABLE[kind]} WHERE id = $1 RETURNING *`, [id]);
    return rows[0] ? toEntry(kind, rows[0]) : null;
  }
}

/**
 * One certificate, one account: a CA (or client certificate) registered for two accounts would let the
 * gateway admit one partner as the other, so a second registration is refused whatever its account.
 */
async function refuseDuplicate(tx: SqlRunner, kind: PartnerTrustKind, account: string, sha256: string): Promise<void> {
  const rows = await tx.query<{ account: string }>(`SELECT account FROM ${TABLE[kind]} WHERE sha256 = $1`, [sha256]);
  if (rows.length === 0) return;
  throw new CaError(
    'conflict',
    rows.some((r) => r.account === account) ? `this certificate is already registered for account ${account}` : 'this certificate is already registered for another account',
  );
}
