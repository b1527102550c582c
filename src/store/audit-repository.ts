import { EMPTY_CHAIN, encodeAuditBody, type ChainHead } from '../domain/audit-chain';
import type { AuditAction, AuditDetails, AuditOutcome, AuditRecord, UnsequencedEntry } from '../domain/audit-event';
import { GroupCommitter } from './group-commit';
import { isDataError, ledgerCall } from './ledger-errors';
import { SqlConditions, type SqlDatabase } from './sql';

/**
 * The statement that appends a batch to the chain through audit_append (migration 0005): lock, read
 * the head, hash, insert, all in the database in one call. (The lock is advisory lock 7270381158, next
 * to the migration, bootstrap and CRL locks …155, …156 and …157: one batch at a time across replicas.)
 * Its eleven parameters are numbered from `first`, so that it can follow a data-modifying CTE and
 * commit with what the records describe.
 */
export function auditAppendQuery(first: number): string {
  const types = ['timestamptz', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'text'];
  const params = types.map((type, i) => `$${first + i}::${type}[]`).join(', ');
  return `SELECT appended_seq::text AS seq_text, appended_prev_hash AS prev_hash, appended_hash AS hash FROM audit_append(${params})`;
}

/** The parameters of auditAppendQuery: one array per column, and each entry's encoding (hex) for the hash. */
export function auditAppendParams(entries: readonly UnsequencedEntry[]): unknown[] {
  const col = <K extends keyof UnsequencedEntry>(k: K) => entries.map((e) => e[k]);
  return [
    col('time'), col('action'), col('outcome'), col('problem'), col('actor'), col('account'), col('serialNumber'),
    col('requestId'), col('clientIp'), entries.map((e) => (e.details ? JSON.stringify(e.details) : null)),
    entries.map((e) => encodeAuditBody(e).toString('hex')),
  ];
}

export interface AppendedRow {
  seq_text: string;
  prev_hash: string;
  hash: string;
}

/** The stored records: the entries (in the order given) with the seq and hashes the database gave them. */
export function appendedRecords(entries: readonly UnsequencedEntry[], rows: AppendedRow[]): AuditRecord[] {
  if (rows.length !== entries.length) throw new Error(`audit_append stored ${rows.length} records for ${entries.length} entries`);
  const sorted = rows.map((r) => ({ seq: Number(r.seq_text), prevHash: r.prev_hash, hash: r.hash })).sort((a, b) => a.seq - b.seq);
  return entries.map((entry, i) => ({ ...entry, ...sorted[i] }));
}

export interface AuditFilter {
  readonly action?: AuditAction;
  readonly outcome?: AuditOutcome;
  readonly account?: string;
  readonly actor?: string;
  readonly serialNumber?: string;
  /** Records at or after this time. */
  readonly since?: Date;
  /** Records before this time. */
  readonly until?: Date;
}

/** An entry waiting for its place in the chain; the flush that commits it fills in `stored`. */
interface PendingAppend {
  readonly entry: UnsequencedEntry;
  stored?: AuditRecord;
}

const COLUMNS = `seq::text AS seq_text, at, action, outcome, problem, actor, account, serial_number, request_id, client_ip,
  details, prev_hash, hash`;

interface RawAuditRow {
  /** As text (bigint); named apart from seq so that ORDER BY seq sorts the number, not this text. */
  seq_text: string;
  at: Date | string;
  action: string;
  outcome: string;
  problem: string | null;
  actor: string | null;
  account: string | null;
  serial_number: string | null;
  request_id: string | null;
  client_ip: string | null;
  details: AuditDetails | string | null;
  prev_hash: string;
  hash: string;
}

function fromRow(r: RawAuditRow): AuditRecord {
  return {
    seq: Number(r.seq_text),
    time: new Date(r.at),
    action: r.action as AuditAction,
    outcome: r.outcome as AuditOutcome,
    problem: r.problem,
    actor: r.actor,
    account: r.account,
    serialNumber: r.serial_number,
    requestId: r.request_id,
    clientIp: r.client_ip,
    details: typeof r.details === 'string' ? (JSON.parse(r.details) as AuditDetails) : r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/**
 * The audit log table: chained appends (group commit) and the reads over it. Rows are never updated
 * or deleted (the database refuses it).
 */
export class AuditRepository {
  private readonly committer: GroupCommitter<PendingAppend>;

  constructor(
    private readonly sql: SqlDatabase,
    options: { maxInFlight?: number; maxWaitMs?: number } = {},
  ) {
    this.committer = new GroupCommitter<PendingAppend>(
      (rows) => this.appendChained(rows),
      (row) => this.appendChained([row]),
      // One batch in flight: appends serialize on the audit lock anyway (see CertificateRepository).
      { maxBatch: 500, maxInFlight: options.maxInFlight ?? 1, maxWaitMs: options.maxWaitMs, retrySingly: isDataError },
    );
  }

  /**
   * Appends one entry to the chain; resolves with the stored record once it is committed. Entries
   * arriving together are chained and written by one transaction (group commit).
   */
  async append(entry: UnsequencedEntry): Promise<AuditRecord> {
    const pending: PendingAppend = { entry };
    await ledgerCall('recording the audit trail', () => this.committer.submit(pending));
    return pending.stored!;
  }

  private async appendChained(pending: PendingAppend[]): Promise<void> {
    const entries = pending.map((p) => p.entry);
    const rows = await this.sql.query<AppendedRow>(auditAppendQuery(1), auditAppendParams(entries), { name: 'mtls_ca_audit_append' });
    appendedRecords(entries, rows).forEach((record, i) => (pending[i].stored = record));
  }

  /** The newest record's seq and hash (EMPTY_CHAIN when there is none). */
  async head(): Promise<ChainHead> {
    const [row] = await ledgerCall('reading the audit trail', () =>
      this.sql.query<{ seq_text: string; hash: string }>('SELECT seq::text AS seq_text, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
    );
    return row ? { seq: Number(row.seq_text), hash: row.hash } : EMPTY_CHAIN;
  }

  /** One page newest first, by keyset over seq (the filters' indexes keep seq order). No OFFSET. */
  async list(filter: AuditFilter, page: { limit: number; beforeSeq?: number }): Promise<AuditRecord[]> {
    const q = new SqlConditions();
    const param = (v: unknown) => q.param(v);
    if (filter.action !== undefined) q.add(`action = ${param(filter.action)}`);
    if (filter.outcome !== undefined) q.add(`outcome = ${param(filter.outcome)}`);
    if (filter.account !== undefined) q.add(`account = ${param(filter.account)}`);
    if (filter.actor !== undefined) q.add(`actor = ${param(filter.actor)}`);
    if (filter.serialNumber !== undefined) q.add(`serial_number = ${param(filter.serialNumber)}`);
    if (filter.since) q.add(`at >= ${param(filter.since)}`);
    if (filter.until) q.add(`at < ${param(filter.until)}`);
    if (page.beforeSeq !== undefined) q.add(`seq < ${param(page.beforeSeq)}`);
    const sql = `SELECT ${COLUMNS} FROM audit_log ${q.where}
      ORDER BY seq DESC LIMIT ${param(page.limit)}`;
    const rows = await ledgerCall('reading the audit trail', () => this.sql.query<RawAuditRow>(sql, q.params));
    return rows.map(fromRow);
  }

  /** Records after `afterSeq` in chain order (verification walks the chain page by page). */
  async chainPage(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = await ledgerCall('reading the audit trail', () =>
      this.sql.query<RawAuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]),
    );
    return rows.map(fromRow);
  }
}
