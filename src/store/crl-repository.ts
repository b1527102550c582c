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
}

export interface RevokedEntryRow {
  serial_number: string;
  revoked_ms: string | number;
  revocation_reason: number;
}

/** What a CRL build may do while it holds the build lock. */
export interface CrlBuildContext {
  /** The CRL stored before this build (null on the first build for this CA key). */
  readonly previous: { crlNumber: bigint; thisUpdate: Date } | null;
  /** Streams revoked certificates that are unexpired at `notAfterAfter`, in serial order, in batches. */
  streamRevoked(notAfterAfter: Date, onBatch: (rows: RevokedEntryRow[]) => void, batchSize?: number): Promise<void>;
  /** Stores the new CRL under the next CRL number. */
  save(crl: Omit<StoredCrl, 'issuerKeyId'>): Promise<void>;
}

const BUILD_LOCK_KEY = 7_270_381_157;

export class CrlRepository {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sql: SqlDatabase,
  ) {}

  async current(issuerKeyId: string): Promise<StoredCrl | null> {
    const row = await ledgerCall('reading the CRL', () => this.prisma.crl.findUnique({ where: { issuerKeyId } }));
    return row ? { ...row, der: Buffer.from(row.der) } : null;
  }

  /** Just the number of the newest CRL: what replicas poll. */
  async currentNumber(issuerKeyId: string): Promise<bigint | null> {
    const rows = await this.sql.query<{ crl_number: string }>('SELECT crl_number::text AS crl_number FROM crls WHERE issuer_key_id = $1', [issuerKeyId]);
    return rows.length ? BigInt(rows[0].crl_number) : null;
  }

  /**
   * Runs one CRL build in a transaction under an advisory lock: one builder at a time across
   * replicas, and the CRL number taken from the database inside the lock, so it strictly increases.
   */
  async build<T>(issuerKeyId: string, fn: (ctx: CrlBuildContext) => Promise<T>): Promise<T> {
    return ledgerCall('building the CRL', () =>
      this.sql.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [BUILD_LOCK_KEY]);
        const prev = await tx.query<{ crl_number: string; this_update: Date }>(
          'SELECT crl_number::text AS crl_number, this_update FROM crls WHERE issuer_key_id = $1',
          [issuerKeyId],
        );
        const previous = prev.length ? { crlNumber: BigInt(prev[0].crl_number), thisUpdate: new Date(prev[0].this_update) } : null;
        return fn({
          previous,
          streamRevoked: (after, onBatch, batchSize) => streamRevoked(tx, after, onBatch, batchSize),
          save: async (crl) => {
            await tx.query(
              `INSERT INTO crls (issuer_key_id, crl_number, this_update, next_update, entries, der, built_at)
               VALUES ($1, $2, $3, $4, $5, $6, now())
               ON CONFLICT (issuer_key_id) DO UPDATE SET crl_number = EXCLUDED.crl_number, this_update = EXCLUDED.this_update,
                 next_update = EXCLUDED.next_update, entries = EXCLUDED.entries, der = EXCLUDED.der, built_at = EXCLUDED.built_at
               WHERE crls.crl_number < EXCLUDED.crl_number`,
              [issuerKeyId, crl.crlNumber.toString(), crl.thisUpdate, crl.nextUpdate, crl.entries, crl.der],
            );
          },
        });
      }),
    );
  }
}

async function streamRevoked(tx: SqlRunner, after: Date, onBatch: (rows: RevokedEntryRow[]) => void, batchSize = 50_000): Promise<void> {
  let last = '';
  for (;;) {
    // Keyset over the partial index certificates_revoked_idx; no OFFSET, no ORM objects.
    const rows = await tx.query<RevokedEntryRow>(
      `SELECT serial_number, (extract(epoch from revoked_at) * 1000)::bigint AS revoked_ms, revocation_reason
         FROM certificates
        WHERE revoked_at IS NOT NULL AND not_after > $1 AND serial_number > $2
        ORDER BY serial_number
        LIMIT $3`,
      [after, last, batchSize],
    );
    if (rows.length === 0) return;
    onBatch(rows);
    if (rows.length < batchSize) return;
    last = rows[rows.length - 1].serial_number;
  }
}
