import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { NothingToRecord, prepareAuditEntry, type AuditAction, type AuditEvent, type AuditOutcome, type AuditRecord, type AuditSink, type UnsequencedEntry } from '../domain/audit-event';
import { CaError } from '../domain/errors';
import { normalizeSerialNumber } from '../domain/serial-number';
import type { AuditFilter } from '../store/audit-repository';

/** The narrow part of the ledger the trail needs. */
export interface AuditStore {
  append(entry: UnsequencedEntry): Promise<AuditRecord>;
  list(filter: AuditFilter, page: { limit: number; beforeSeq?: number }): Promise<AuditRecord[]>;
}

export interface AuditQuery {
  action?: AuditAction;
  outcome?: AuditOutcome;
  account?: string;
  actor?: string;
  serialNumber?: string;
  since?: Date;
  until?: Date;
  limit: number;
  cursor?: string;
}

export interface AuditPage {
  items: AuditRecord[];
  nextCursor: string | null;
}

/**
 * The audit trail: stamps each event with the time, appends it to the hash chain in the ledger, and
 * writes it to the structured log (`audit` field). `record` is for actions that must not succeed
 * unaudited; `recordInBackground` for failed requests, which are answered without waiting.
 */
export class AuditTrail implements AuditSink {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly store: AuditStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * Resolves once the record is committed (by `commit`, with the change it describes, when given);
   * throws the ledger's 503 otherwise. The event is logged either way.
   */
  async record(event: AuditEvent, commit?: (entry: UnsequencedEntry) => Promise<AuditRecord>): Promise<void> {
    const entry = prepareAuditEntry(event, this.clock.now());
    try {
      const stored = await (commit ? commit(entry) : this.store.append(entry));
      this.logger.info({ audit: stored }, 'audit');
    } catch (err) {
      if (!(err instanceof NothingToRecord)) {
        this.logger.error({ audit: entry, err: err instanceof CaError ? (err.cause ?? err) : err }, 'the audit record could not be stored');
      }
      throw err;
    }
  }

  /** Appends without making anyone wait; a failure is logged with the whole event, never dropped silently. */
  recordInBackground(event: AuditEvent | Promise<AuditEvent | null>): void {
    const done: Promise<void> = Promise.resolve(event)
      .then(
        (e) => (e ? this.record(e).catch(() => undefined) : undefined), // record() has logged the event and the error
        (err: unknown) => this.logger.error({ err }, 'an audit event could not be put together'),
      )
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  /** Waits for the background appends under way (before the ledger closes). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** One page of the trail, newest first. */
  async list(query: AuditQuery): Promise<AuditPage> {
    const filter: AuditFilter = {
      action: query.action,
      outcome: query.outcome,
      account: query.account,
      actor: query.actor,
      serialNumber: query.serialNumber === undefined ? undefined : normalizeSerialNumber(query.serialNumber),
      since: query.since,
      until: query.until,
    };
    const rows = await this.store.list(filter, { limit: query.limit + 1, beforeSeq: query.cursor ? decodeAuditCursor(query.cursor) : undefined });
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > query.limit && last ? encodeAuditCursor(last.seq) : null };
  }
}

export function encodeAuditCursor(seq: number): string {
  return Buffer.from(`audit.${seq}`, 'utf8').toString('base64url');
}

export function decodeAuditCursor(cursor: string): number {
  const m = /^audit\.([1-9]\d{0,14})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new CaError('invalid-request', 'the cursor is not one this service returned');
  return Number(m[1]);
}
