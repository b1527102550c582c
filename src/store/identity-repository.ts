import type { AuditRecord, UnsequencedEntry } from '../domain/audit-event';
import type { ClientIdentity, IdentityOrigin } from '../domain/client-identity';
import type { SecretVault } from '../ca/secret-vault';
import { appendedRecords, auditAppendParams, auditAppendQuery, type AppendedRow } from './audit-repository';
import { ledgerCall } from './ledger-errors';
import { SecretRepository } from './secret-repository';
import type { SqlDatabase, SqlRunner } from './sql';

interface IdentityRow {
  id: string;
  account: string;
  name: string;
  origin: IdentityOrigin;
  key_type: string;
  public_key_sha256: string;
  key_purpose: string;
  exportable: boolean;
  csr_pem: string | null;
  certificate_pem: string | null;
  chain_pem: string;
  fingerprint_sha256: string | null;
  serial_number: string | null;
  subject: string | null;
  issuer: string | null;
  not_before: Date | string | null;
  not_after: Date | string | null;
  revision: number;
  created_by: string;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = `id::text AS id, account, name, origin, key_type, public_key_sha256, key_purpose, exportable, csr_pem, certificate_pem,
  chain_pem, fingerprint_sha256, serial_number, subject, issuer, not_before, not_after, revision, created_by, created_at, updated_at`;

const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));
const splitChain = (pem: string): string[] => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];

function toIdentity(r: IdentityRow): ClientIdentity {
  return {
    id: r.id,
    account: r.account,
    name: r.name,
    origin: r.origin,
    keyType: r.key_type,
    publicKeySha256: r.public_key_sha256,
    exportable: r.exportable,
    csrPem: r.csr_pem,
    certificatePem: r.certificate_pem,
    chainPem: splitChain(r.chain_pem),
    fingerprintSha256: r.fingerprint_sha256,
    serialNumber: r.serial_number,
    subject: r.subject,
    issuer: r.issuer,
    notBefore: date(r.not_before),
    notAfter: date(r.not_after),
    revision: Number(r.revision),
    createdBy: r.created_by,
    createdAt: date(r.created_at)!,
    updatedAt: date(r.updated_at)!,
  };
}

/** The certificate part of an identity, as it is set when one arrives. */
export type IdentityCertificate = Pick<
  ClientIdentity,
  'certificatePem' | 'chainPem' | 'fingerprintSha256' | 'serialNumber' | 'subject' | 'issuer' | 'notBefore' | 'notAfter'
>;

async function appendAudit(tx: SqlRunner, audit: UnsequencedEntry): Promise<AuditRecord> {
  const rows = await tx.query<AppendedRow>(auditAppendQuery(1), auditAppendParams([audit]));
  return appendedRecords([audit], rows)[0];
}

/** Client identities (migration 0012); each one's private key is a wrapped secret written and deleted with its row. */
export class IdentityRepository {
  constructor(private readonly sql: SqlDatabase) {}

  /** Wraps the key and inserts the identity in one transaction (with its audit record); null when the name is taken. */
  async insert(identity: ClientIdentity, keyPurpose: string, pkcs8: Buffer, vault: SecretVault, audit: UnsequencedEntry): Promise<AuditRecord | null> {
    return ledgerCall('recording the client identity', () =>
      this.sql.transaction(async (tx) => {
        const taken = await tx.query('SELECT 1 FROM client_identities WHERE account = $1 AND name = $2 FOR UPDATE', [identity.account, identity.name]);
        if (taken.length > 0) return null;
        await vault.on(new SecretRepository(tx)).wrap(keyPurpose, pkcs8);
        await tx.query(
          `INSERT INTO client_identities (id, account, name, origin, key_type, public_key_sha256, key_purpose, exportable, csr_pem, certificate_pem,
             chain_pem, fingerprint_sha256, serial_number, subject, issuer, not_before, not_after, revision, created_by, created_at, updated_at)
           VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
          [
            identity.id, identity.account, identity.name, identity.origin, identity.keyType, identity.publicKeySha256, keyPurpose,
            identity.exportable, identity.csrPem, identity.certificatePem, identity.chainPem.join(''), identity.fingerprintSha256,
            identity.serialNumber, identity.subject, identity.issuer, identity.notBefore, identity.notAfter, identity.revision,
            identity.createdBy, identity.createdAt, identity.updatedAt,
          ],
        );
        return appendAudit(tx, audit);
      }),
    );
  }

  async find(id: string): Promise<ClientIdentity | null> {
    const rows = await ledgerCall('reading a client identity', () => this.sql.query<IdentityRow>(`SELECT ${COLUMNS} FROM client_identities WHERE id = $1::uuid`, [id]));
    return rows[0] ? toIdentity(rows[0]) : null;
  }

  /** The identities of one account (or all, for undefined), newest first. */
  async list(account: string | undefined, limit: number): Promise<ClientIdentity[]> {
    const rows = await ledgerCall('listing client identities', () =>
      account === undefined
        ? this.sql.query<IdentityRow>(`SELECT ${COLUMNS} FROM client_identities ORDER BY created_at DESC, id LIMIT $1`, [limit])
        : this.sql.query<IdentityRow>(`SELECT ${COLUMNS} FROM client_identities WHERE account = $1 ORDER BY created_at DESC, id LIMIT $2`, [account, limit]),
    );
    return rows.map(toIdentity);
  }

  /** Sets the certificate (bumping the revision) with its audit record; null when the identity is gone. */
  async setCertificate(id: string, cert: IdentityCertificate, now: Date, audit: UnsequencedEntry): Promise<ClientIdentity | null> {
    return ledgerCall('recording the certificate of a client identity', () =>
      this.sql.transaction(async (tx) => {
        const rows = await tx.query<IdentityRow>(
          `UPDATE client_identities SET certificate_pem = $2, chain_pem = $3, fingerprint_sha256 = $4, serial_number = $5, subject = $6,
             issuer = $7, not_before = $8, not_after = $9, revision = revision + 1, updated_at = $10
           WHERE id = $1::uuid RETURNING ${COLUMNS}`,
          [id, cert.certificatePem, cert.chainPem.join(''), cert.fingerprintSha256, cert.serialNumber, cert.subject, cert.issuer, cert.notBefore, cert.notAfter, now],
        );
        if (rows.length === 0) return null;
        await appendAudit(tx, audit);
        return toIdentity(rows[0]);
      }),
    );
  }

  /** Deletes the identity and its wrapped key in one transaction (with its audit record); false when it was gone. */
  async delete(id: string, audit: UnsequencedEntry): Promise<boolean> {
    return ledgerCall('deleting a client identity', () =>
      this.sql.transaction(async (tx) => {
        const rows = await tx.query<{ key_purpose: string }>('DELETE FROM client_identities WHERE id = $1::uuid RETURNING key_purpose', [id]);
        if (rows.length === 0) return false;
        await new SecretRepository(tx).remove(rows[0].key_purpose);
        await appendAudit(tx, audit);
        return true;
      }),
    );
  }

  /** The wrapped-secret purpose of an identity's key. */
  async keyPurpose(id: string): Promise<string | null> {
    const rows = await this.sql.query<{ key_purpose: string }>('SELECT key_purpose FROM client_identities WHERE id = $1::uuid', [id]);
    return rows[0]?.key_purpose ?? null;
  }
}
