import { ledgerCall } from './ledger-errors';
import type { PrismaClient } from './prisma-client';
import type { SqlDatabase, SqlRunner } from './sql';

/** A signed CRL as stored for all replicas. */
export interface StoredCrl {
  readonly issuerKeyId: string;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: number;
  readonly der: Buffer;
  /** The highest revocation sequence number the CRL reflects. */
  readonly lastRevocationSeq: bigint;
  /** When the entry list was last read whole from the ledger (expired entries drop off then). */
  readonly fullBuildAt: Date | null;
}

/** revokedCertificates entries, DER-encoded, concatenated. */
export interface EncodedEntries {
  readonly der: Buffer;
  readonly count: number;
  readonly lastRevocationSeq: bigint;
}

/** What a CRL build may do while it holds the build lock. */
export interface CrlBuildContext {
  /** The CRL stored before this build (null on the first build for this CA key). */
  readonly previous: Omit<StoredCrl, 'der' | 'issuerKeyId'> | null;
  /** Every revoked certificate unexpired at `notAfterAfter`. */
  allEntries(notAfterAfter: Date): Promise<EncodedEntries>;
  /** Revocations made after `seq`, of certificates unexpired at `notAfterAfter`. */
  entriesSince(seq: bigint, notAfterAfter: Date): Promise<EncodedEntries>;
  /** The stored CRL's DER (to append to when this process does not hold it already). */
  previousDer(): Promise<Buffer | null>;
  /** Stores the new CRL. */
  save(crl: Omit<StoredCrl, 'issuerKeyId'>): Promise<void>;
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

export class CrlRepository {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sql: SqlDatabase,
  ) {}

  /** The stored CRL (tens of MB at scale: fetched as base64, not through the ORM's hex strings). */
  async current(issuerKeyId: string): Promise<StoredCrl | null> {
    const rows = await ledgerCall('reading the CRL', () =>
      // bytea as base64 text: a third smaller than the driver's hex form, and decoded natively.
      this.sql.query<{ crl_number: string; this_ms: string; next_ms: string; entries: string; der: string; last_seq: string; full_ms: string | null }>(
        `SELECT crl_number::text AS crl_number, ${epochMs('this_update')} AS this_ms, ${epochMs('next_update')} AS next_ms,
                entries::text AS entries, encode(der, 'base64') AS der, last_revocation_seq::text AS last_seq, ${epochMs('full_build_at')} AS full_ms
           FROM crls WHERE issuer_key_id = $1`,
        [issuerKeyId],
      ),
    );
    if (rows.length === 0) return null;
    const r = rows[0];
    return {
      issuerKeyId,
      crlNumber: BigInt(r.crl_number),
      thisUpdate: new Date(Number(r.this_ms)),
      nextUpdate: new Date(Number(r.next_ms)),
      entries: Number(r.entries),
      der: Buffer.from(r.der, 'base64'),
      lastRevocationSeq: BigInt(r.last_seq),
      fullBuildAt: r.full_ms === null ? null : new Date(Number(r.full_ms)),
    };
  }

  /** The stored CRL's summary through Prisma (no DER). */
  async summary(issuerKeyId: string): Promise<Omit<StoredCrl, 'der'> | null> {
    const row = await ledgerCall('reading the CRL', () => this.prisma.crl.findUnique({ where: { issuerKeyId }, omit: { der: true } }));
    return row ? { ...row, fullBuildAt: row.fullBuildAt } : null;
  }

  /** Just the number of the newest CRL: what replicas poll. */
  async currentNumber(issuerKeyId: string): Promise<bigint | null> {
    const rows = await this.sql.query<{ crl_number: string }>('SELECT crl_number::text AS crl_number FROM crls WHERE issuer_key_id = $1', [issuerKeyId]);
    return rows.length ? BigInt(rows[0].crl_number) : null;
  }

  /**
   * Runs one CRL build in a transaction under the exclusive advisory lock: one builder at a time across
   * replicas, no revocation in flight, and the CRL number taken from the database inside the lock.
   */
  async build<T>(issuerKeyId: string, fn: (ctx: CrlBuildContext) => Promise<T>): Promise<T> {
    return ledgerCall('building the CRL', () =>
      this.sql.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [CRL_LOCK_KEY]);
        const prev = await tx.query<{ crl_number: string; this_update: Date; next_update: Date; entries: number; last_seq: string; full_build_at: Date | null }>(
          `SELECT crl_number::text AS crl_number, this_update, next_update, entries, last_revocation_seq::text AS last_seq, full_build_at
             FROM crls WHERE issuer_key_id = $1`,
          [issuerKeyId],
        );
        const previous = prev.length
          ? {
              crlNumber: BigInt(prev[0].crl_number),
              thisUpdate: new Date(prev[0].this_update),
              nextUpdate: new Date(prev[0].next_update),
              entries: prev[0].entries,
              lastRevocationSeq: BigInt(prev[0].last_seq),
              fullBuildAt: prev[0].full_build_at ? new Date(prev[0].full_build_at) : null,
            }
          : null;
        return fn({
          previous,
          allEntries: async (after) => {
            const [last] = await tx.query<{ seq: string }>('SELECT coalesce(max(revocation_seq), 0)::text AS seq FROM certificates');
            return { ...(await encodedEntries(tx, 'revoked_at IS NOT NULL AND not_after > $1', [after])), lastRevocationSeq: BigInt(last.seq) };
          },
          entriesSince: async (seq, after) => {
            const [last] = await tx.query<{ seq: string }>('SELECT coalesce(max(revocation_seq), 0)::text AS seq FROM certificates');
            const encoded = await encodedEntries(tx, 'revocation_seq > $1 AND not_after > $2', [seq.toString(), after]);
            return { ...encoded, lastRevocationSeq: BigInt(last.seq) };
          },
          previousDer: async () => {
            const rows = await tx.query<{ der: string }>("SELECT encode(der, 'base64') AS der FROM crls WHERE issuer_key_id = $1", [issuerKeyId]);
            return rows.length ? Buffer.from(rows[0].der, 'base64') : null;
          },
          save: async (crl) => {
            await tx.query(
              `INSERT INTO crls (issuer_key_id, crl_number, this_update, next_update, entries, der, built_at, last_revocation_seq, full_build_at)
               VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8)
               ON CONFLICT (issuer_key_id) DO UPDATE SET crl_number = EXCLUDED.crl_number, this_update = EXCLUDED.this_update,
                 next_update = EXCLUDED.next_update, entries = EXCLUDED.entries, der = EXCLUDED.der, built_at = EXCLUDED.built_at,
                 last_revocation_seq = EXCLUDED.last_revocation_seq, full_build_at = EXCLUDED.full_build_at
               WHERE crls.crl_number < EXCLUDED.crl_number`,
              [issuerKeyId, crl.crlNumber.toString(), crl.thisUpdate, crl.nextUpdate, crl.entries, crl.der, crl.lastRevocationSeq.toString(), crl.fullBuildAt],
            );
          },
        });
      }),
    );
  }
}

async function encodedEntries(tx: SqlRunner, where: string, params: unknown[]): Promise<{ der: Buffer; count: number }> {
  const [row] = await tx.query<{ der: string | null; count: string }>(
    `SELECT encode(string_agg(${ENTRY_SQL}, ''::bytea), 'base64') AS der, count(*)::text AS count FROM certificates WHERE ${where}`,
    params,
  );
  return { der: row.der ? Buffer.from(row.der, 'base64') : Buffer.alloc(0), count: Number(row.count) };
}

const epochMs = (column: string) => `(extract(epoch from ${column}) * 1000)::bigint::text`;
