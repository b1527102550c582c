import { ledgerCall } from './ledger-errors';
import type { PrismaClient } from './prisma-client';
import { BULK_TIMEOUT_MS, type SqlDatabase, type SqlRunner } from './sql';

/** The newest CRL's header fields and signature: enough, with the base and the delta, to rebuild it. */
export interface CrlHead {
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: number;
  /** The highest revocation sequence number the CRL reflects. */
  readonly lastRevocationSeq: bigint;
  /** When the entry list was last read whole from the ledger (expired entries drop off then). */
  readonly fullBuildAt: Date;
  readonly signature: Buffer;
  /** The full CRL this one extends (equal to crlNumber for a full CRL). */
  readonly baseCrlNumber: bigint;
  readonly baseLastRevocationSeq: bigint;
  readonly baseEntries: number;
}

/** revokedCertificates entries, DER-encoded, concatenated. */
export interface EncodedEntries {
  readonly der: Buffer;
  readonly count: number;
  /** The highest revocation sequence number in the ledger when read. */
  readonly lastRevocationSeq: bigint;
}

/** What a CRL build may do while it holds the build lock. */
export interface CrlBuildContext {
  /** The newest stored CRL (null on the first build for this CA key, or for a row from before migration 0004). */
  readonly previous: CrlHead | null;
  /** The newest stored CRL number, whatever its form (numbering always continues from it). */
  readonly previousNumber: bigint | null;
  /** Every revoked certificate unexpired at `notAfterAfter`. */
  allEntries(notAfterAfter: Date): Promise<EncodedEntries>;
  /** Revocations after `seq`, in revocation order. */
  entriesAfter(seq: bigint): Promise<EncodedEntries>;
  /** The base CRL's DER. */
  baseDer(): Promise<Buffer | null>;
  /** Stores a full CRL: it becomes the base. */
  saveFull(head: CrlHead, der: Buffer): Promise<void>;
  /** Stores an incremental CRL: header fields and signature only. */
  saveIncremental(head: CrlHead): Promise<void>;
}

/** Builders take it exclusively; revocations take it shared, so no revocation is in flight during a build. */
export const CRL_LOCK_KEY = 7_270_381_157;

/**
 * One revokedCertificates entry, encoded by the database:
 *   SEQUENCE { INTEGER serial, Time revocationDate [, Extensions { reasonCode }] }
 * UTCTime through 2049, GeneralizedTime after; the reasonCode extension is left out for unspecified (0).
 * Encoding in SQL keeps a million rows from ever becoming JavaScript objects.
 */
const ENTRY_SQL = `
  '\\x30'::bytea
  || set_byte('\\x00'::bytea, 0, 2 + length(serial_number) / 2
       + CASE WHEN revoked_at < '2050-01-01Z' THEN 15 ELSE 17 END
       + CASE WHEN revocation_reason = 0 THEN 0 ELSE 14 END)
  || '\\x02'::bytea || set_byte('\\x00'::bytea, 0, length(serial_number) / 2) || decode(serial_number, 'hex')
  || CASE WHEN revoked_at < '2050-01-01Z'
       THEN '\\x170d'::bytea || convert_to(to_char(revoked_at AT TIME ZONE 'UTC', 'YYMMDDHH24MISS"Z"'), 'UTF8')
       ELSE '\\x180f'::bytea || convert_to(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS"Z"'), 'UTF8') END
  || CASE WHEN revocation_reason = 0 THEN ''::bytea
       ELSE '\\x300c300a0603551d1504030a01'::bytea || set_byte('\\x00'::bytea, 0, revocation_reason) END`;

const epochMs = (column: string) => `(extract(epoch from ${column}) * 1000)::bigint::text`;

const HEAD_SQL = `SELECT crl_number::text AS crl_number, ${epochMs('this_update')} AS this_ms, ${epochMs('next_update')} AS next_ms,
    entries::text AS entries, last_revocation_seq::text AS last_seq, ${epochMs('full_build_at')} AS full_ms,
    encode(signature, 'base64') AS signature, base_crl_number::text AS base_number,
    base_last_revocation_seq::text AS base_last_seq, base_entries::text AS base_entries
  FROM crls WHERE issuer_key_id = $1`;

interface HeadRow {
  crl_number: string;
  this_ms: string;
  next_ms: string;
  entries: string;
  last_seq: string;
  full_ms: string | null;
  signature: string | null;
  base_number: string | null;
  base_last_seq: string | null;
  base_entries: string | null;
}

function toHead(r: HeadRow | undefined): CrlHead | null {
  if (!r || r.signature === null || r.base_number === null || r.base_last_seq === null || r.base_entries === null || r.full_ms === null) return null;
  return {
    crlNumber: BigInt(r.crl_number),
    thisUpdate: new Date(Number(r.this_ms)),
    nextUpdate: new Date(Number(r.next_ms)),
    entries: Number(r.entries),
    lastRevocationSeq: BigInt(r.last_seq),
    fullBuildAt: new Date(Number(r.full_ms)),
    signature: Buffer.from(r.signature, 'base64'),
    baseCrlNumber: BigInt(r.base_number),
    baseLastRevocationSeq: BigInt(r.base_last_seq),
    baseEntries: Number(r.base_entries),
  };
}

async function encodedEntries(tx: SqlRunner, where: string, params: unknown[], order = ''): Promise<{ der: Buffer; count: number }> {
  // bytea travels as base64 text: a third smaller than the driver's hex form, and decoded natively.
  const [row] = await tx.query<{ der: string | null; count: string }>(
    `SELECT encode(string_agg(${ENTRY_SQL}, ''::bytea ${order}), 'base64') AS der, count(*)::text AS count FROM certificates WHERE ${where}`,
    params,
  );
  return { der: row.der ? Buffer.from(row.der, 'base64') : Buffer.alloc(0), count: Number(row.count) };
}

async function maxSeq(tx: SqlRunner): Promise<bigint> {
  const [row] = await tx.query<{ seq: string }>('SELECT coalesce(max(revocation_seq), 0)::text AS seq FROM certificates');
  return BigInt(row.seq);
}

async function readBaseDer(tx: SqlRunner, issuerKeyId: string): Promise<Buffer | null> {
  const rows = await tx.query<{ der: string }>("SELECT encode(der, 'base64') AS der FROM crls WHERE issuer_key_id = $1", [issuerKeyId]);
  return rows.length ? Buffer.from(rows[0].der, 'base64') : null;
}

export class CrlRepository {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sql: SqlDatabase,
  ) {}

  async head(issuerKeyId: string): Promise<CrlHead | null> {
    const rows = await ledgerCall('reading the CRL', () => this.sql.query<HeadRow>(HEAD_SQL, [issuerKeyId]));
    return toHead(rows[0]);
  }

  /** Just the number of the newest CRL: what replicas poll (through Prisma: a small read). */
  async currentNumber(issuerKeyId: string): Promise<bigint | null> {
    const row = await this.prisma.crl.findUnique({ where: { issuerKeyId }, select: { crlNumber: true } });
    return row ? row.crlNumber : null;
  }

  /**
   * How many revocations have committed with a sequence number above `seq` (a range of the unique
   * index; polled with the published CRL's last one, to catch a lost rebuild and to expire OCSP answers).
   * Rows are never deleted nor unrevoked, so for one `seq` the count only grows, with every commit.
   */
  async revocationsAfter(seq: bigint): Promise<bigint> {
    const [row] = await this.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM certificates WHERE revocation_seq > $1', [seq.toString()]);
    return BigInt(row.n);
  }

  async baseDer(issuerKeyId: string): Promise<Buffer | null> {
    return ledgerCall('reading the CRL', () => readBaseDer(this.sql, issuerKeyId));
  }

  /** Revocations with a sequence number in (after, upTo], in revocation order. */
  async entriesBetween(issuerKeyId: string, after: bigint, upTo: bigint): Promise<{ der: Buffer; count: number }> {
    return ledgerCall('reading the CRL', () =>
      encodedEntries(
        this.sql,
        'revocation_seq > $1 AND revocation_seq <= $2 AND issuer_key_id = $3',
        [after.toString(), upTo.toString(), issuerKeyId],
        'ORDER BY revocation_seq',
      ),
    );
  }

  /**
   * Runs one CRL build in a transaction under the exclusive advisory lock: one builder at a time across
   * replicas, no revocation in flight, and the CRL number taken from the database inside the lock.
   */
  async build<T>(issuerKeyId: string, fn: (ctx: CrlBuildContext) => Promise<T>): Promise<T> {
    return ledgerCall('building the CRL', () =>
      this.sql.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [CRL_LOCK_KEY]);
        const previous = toHead((await tx.query<HeadRow>(HEAD_SQL, [issuerKeyId]))[0]);
        const save = async (head: CrlHead, der: Buffer | null) => {
          await tx.query(
            `INSERT INTO crls (issuer_key_id, crl_number, this_update, next_update, entries, der, built_at, last_revocation_seq, full_build_at,
                               signature, base_crl_number, base_last_revocation_seq, base_entries)
             VALUES ($1, $2, $3, $4, $5, coalesce($6, '\\x'::bytea), now(), $7, $8, $9, $10, $11, $12)
             ON CONFLICT (issuer_key_id) DO UPDATE SET crl_number = EXCLUDED.crl_number, this_update = EXCLUDED.this_update,
               next_update = EXCLUDED.next_update, entries = EXCLUDED.entries, built_at = EXCLUDED.built_at,
               der = CASE WHEN $6::bytea IS NULL THEN crls.der ELSE EXCLUDED.der END,
               last_revocation_seq = EXCLUDED.last_revocation_seq, full_build_at = EXCLUDED.full_build_at, signature = EXCLUDED.signature,
               base_crl_number = EXCLUDED.base_crl_number, base_last_revocation_seq = EXCLUDED.base_last_revocation_seq,
               base_entries = EXCLUDED.base_entries
             WHERE crls.crl_number < EXCLUDED.crl_number`,
            [issuerKeyId, head.crlNumber.toString(), head.thisUpdate, head.nextUpdate, head.entries, der, head.lastRevocationSeq.toString(),
              head.fullBuildAt, head.signature, head.baseCrlNumber.toString(), head.baseLastRevocationSeq.toString(), head.baseEntries],
          );
        };
        // A row from before migration 0004 has no base: its numbering continues with a full build.
        const numbers = await tx.query<{ n: string }>('SELECT crl_number::text AS n FROM crls WHERE issuer_key_id = $1', [issuerKeyId]);
        return fn({
          previous,
          previousNumber: numbers.length ? BigInt(numbers[0].n) : null,
          allEntries: async (after) => {
            const last = await maxSeq(tx);
            return {
              ...(await encodedEntries(tx, 'revoked_at IS NOT NULL AND not_after > $1 AND issuer_key_id = $2', [after, issuerKeyId])),
              lastRevocationSeq: last,
            };
          },
          entriesAfter: async (seq) => {
            const last = await maxSeq(tx);
            const encoded = await encodedEntries(
              tx,
              'revocation_seq > $1 AND revocation_seq <= $2 AND issuer_key_id = $3',
              [seq.toString(), last.toString(), issuerKeyId],
              'ORDER BY revocation_seq',
            );
            return { ...encoded, lastRevocationSeq: last };
          },
          baseDer: () => readBaseDer(tx, issuerKeyId),
          saveFull: (head, der) => save(head, der),
          saveIncremental: (head) => save(head, null),
        });
      }, { timeoutMs: BULK_TIMEOUT_MS }),
    );
  }
}
