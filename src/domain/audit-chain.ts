import { createHash } from 'node:crypto';
import type { AuditEntry, AuditRecord, UnsequencedEntry } from './audit-event';

/**
 * The hash chain of the audit trail. Records are numbered 1, 2, 3, … (`seq`) and
 *
 *   prevHash(1) = GENESIS_HASH (64 zeros);  prevHash(n) = hash(n − 1)
 *   hash(n)     = lowercase hex SHA-256( prevHash(n) as 32 raw bytes ‖ encode(entry n) )
 *
 * encode(entry) is unambiguous: every item is either
 *
 *   absent:   0x00
 *   present:  0x01 ‖ uint32 big-endian byte length ‖ UTF-8 bytes
 *
 * and the items are, in this order: the label "mtls-ca audit v1", seq (decimal, no leading zeros),
 * time (ISO 8601 UTC with milliseconds, `2026-06-01T12:00:00.000Z`), action, outcome, problem, actor,
 * account, serialNumber, requestId, clientIp, then details: absent (0x00), or 0x01 ‖ uint32 count ‖
 * each key and its value as present items, keys in ascending order of their UTF-8 bytes.
 *
 * The database chains the records (audit_append in migration 0005, one statement per batch, under a
 * lock): it hashes the label and seq items, which only it can know, followed by `encodeAuditBody` made
 * here. This module is the specification of the whole encoding and the verifier.
 *
 * Changing any field of a record changes its hash; changing the hash too breaks the next record's
 * prevHash; deleting, inserting or reordering records breaks the seq run or a prevHash. Only the newest
 * records can be cut off unnoticed by the chain alone, which is why the head (count and hash) is
 * reported for keeping elsewhere.
 */
export const GENESIS_HASH = '0'.repeat(64);

const LABEL = 'mtls-ca audit v1';

/** The newest record of a chain: its seq and hash (seq 0 and GENESIS_HASH for an empty chain). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export const EMPTY_CHAIN: ChainHead = Object.freeze({ seq: 0, hash: GENESIS_HASH });

function item(text: string | null): Buffer[] {
  if (text === null) return [Buffer.of(0)];
  const bytes = Buffer.from(text, 'utf8');
  const head = Buffer.alloc(5);
  head[0] = 1;
  head.writeUInt32BE(bytes.length, 1);
  return [head, bytes];
}

/** The canonical bytes of an entry (see the module comment). */
export function encodeAuditEntry(entry: AuditEntry): Buffer {
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 1) throw new RangeError(`audit seq must be a positive integer, not ${entry.seq}`);
  return Buffer.concat([...item(LABEL), ...item(String(entry.seq)), encodeAuditBody(entry)]);
}

/** The encoding after the label and seq items: time through details. */
export function encodeAuditBody(entry: UnsequencedEntry): Buffer {
  const texts: Array<string | null> = [
    entry.time.toISOString(), entry.action, entry.outcome, entry.problem, entry.actor, entry.account,
    entry.serialNumber, entry.requestId, entry.clientIp,
  ];
  const keys = entry.details === null ? null : Object.keys(entry.details).sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  if (keys !== null) for (const key of keys) texts.push(key, entry.details![key]);
  // One buffer, sized first: an absent item is 1 byte, a present one 5 + its UTF-8 bytes, the details' count 5 (or 1 when absent).
  let size = keys === null ? 1 : 5;
  for (const text of texts) size += text === null ? 1 : 5 + Buffer.byteLength(text, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const put = (text: string | null) => {
    if (text === null) {
      out[at++] = 0;
      return;
    }
    out[at] = 1;
    const length = out.write(text, at + 5, 'utf8');
    out.writeUInt32BE(length, at + 1);
    at += 5 + length;
  };
  for (let i = 0; i < 9; i++) put(texts[i]);
  if (keys === null) {
    out[at++] = 0;
  } else {
    out[at] = 1;
    out.writeUInt32BE(keys.length, at + 1);
    at += 5;
    for (let i = 9; i < texts.length; i++) put(texts[i]);
  }
  if (at !== size) throw new Error('audit encoding: size mismatch');
  return out;
}

const HASH_FORMAT = /^[0-9a-f]{64}$/;

/** hash(n) from prevHash(n) and entry n. */
export function auditHash(prevHash: string, entry: AuditEntry): string {
  if (!HASH_FORMAT.test(prevHash)) throw new RangeError('prevHash must be 64 lowercase hex digits');
  return createHash('sha256').update(Buffer.from(prevHash, 'hex')).update(encodeAuditEntry(entry)).digest('hex');
}

/** Chains entries after `head`: seq head.seq + 1, + 2, …, each hashed over the one before. */
export function extendChain(head: ChainHead, entries: readonly UnsequencedEntry[]): AuditRecord[] {
  const records: AuditRecord[] = [];
  let { seq, hash } = head;
  for (const entry of entries) {
    const sequenced: AuditEntry = { ...entry, seq: ++seq };
    const next = auditHash(hash, sequenced);
    records.push({ ...sequenced, prevHash: hash, hash: next });
    hash = next;
  }
  return records;
}

/** The first place a chain is broken: the record's seq, what was expected there and what was found. */
export interface ChainBreak {
  readonly seq: number;
  /** `seq`: a record missing or out of place; `prevHash`: not the hash of the record before; `hash`: the record's content does not match its hash. */
  readonly field: 'seq' | 'prevHash' | 'hash';
  readonly expected: string;
  readonly found: string;
}

/** Walks a chain record by record, in seq order, with constant memory. */
export class ChainVerifier {
  private head: ChainHead = EMPTY_CHAIN;
  private broken: ChainBreak | null = null;

  /** Checks the next record; returns the first break (and keeps returning it), or null while intact. */
  next(record: AuditRecord): ChainBreak | null {
    if (this.broken) return this.broken;
    const expectedSeq = this.head.seq + 1;
    if (record.seq !== expectedSeq) {
      this.broken = { seq: record.seq, field: 'seq', expected: String(expectedSeq), found: String(record.seq) };
    } else if (record.prevHash !== this.head.hash) {
      this.broken = { seq: record.seq, field: 'prevHash', expected: this.head.hash, found: record.prevHash };
    } else {
      const computed = auditHash(record.prevHash, record);
      if (computed !== record.hash) this.broken = { seq: record.seq, field: 'hash', expected: computed, found: record.hash };
      else this.head = { seq: record.seq, hash: record.hash };
    }
    return this.broken;
  }

  /** The last record verified intact (EMPTY_CHAIN before any). */
  get verifiedHead(): ChainHead {
    return this.head;
  }
}
