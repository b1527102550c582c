import { reasonFromCode, type RevocationReason } from '../domain/revocation-reasons';
import { SqlConditions, type SqlRunner } from './sql';

/** Certificates issued on one UTC day. */
export interface DailyCount {
  /** YYYY-MM-DD (UTC). */
  readonly day: string;
  readonly count: number;
}

export interface CertificateCounts {
  readonly issuedPerDay: readonly DailyCount[];
  readonly revokedByReason: ReadonlyArray<{ readonly reason: RevocationReason; readonly count: number }>;
  /** Unrevoked certificates whose notAfter falls within 30, 60 and 90 days of now (cumulative). */
  readonly expiring: { readonly within30Days: number; readonly within60Days: number; readonly within90Days: number };
}

const DAY_MS = 86_400_000;

/**
 * The dashboard's aggregates over the ledger, each bounded by an indexed range (issued_at, revoked_at,
 * not_after; per account for tenants), so their cost follows the window, not the size of the ledger.
 */
export class CertificateStatsRepository {
  constructor(private readonly sql: SqlRunner) {}

  /** `account` null: every account (admins). */
  async counts(account: string | null, now: Date, days: number): Promise<CertificateCounts> {
    const since = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - (days - 1) * DAY_MS);
    const [issued, revoked, expiring] = await Promise.all([
      this.issuedPerDay(account, since),
      this.revokedByReason(account, new Date(now.getTime() - 90 * DAY_MS)),
      this.expiring(account, now),
    ]);
    const byDay = new Map(issued.map((r) => [r.day, Number(r.count)]));
    const issuedPerDay: DailyCount[] = [];
    for (let t = since.getTime(); t <= now.getTime(); t += DAY_MS) {
      const day = new Date(t).toISOString().slice(0, 10);
      issuedPerDay.push({ day, count: byDay.get(day) ?? 0 });
    }
    return {
      issuedPerDay,
      revokedByReason: revoked.map((r) => ({ reason: reasonFromCode(Number(r.code)), count: Number(r.count) })),
      expiring: {
        within30Days: Number(expiring.d30 ?? 0),
        within60Days: Number(expiring.d60 ?? 0),
        within90Days: Number(expiring.d90 ?? 0),
      },
    };
  }

  private issuedPerDay(account: string | null, since: Date) {
    const q = new SqlConditions();
    q.add(`issued_at >= ${q.param(since)}`);
    if (account !== null) q.add(`account = ${q.param(account)}`);
    return this.sql.query<{ day: string; count: string | number }>(
      `SELECT to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS count
         FROM certificates ${q.where} GROUP BY 1 ORDER BY 1`,
      q.params,
    );
  }

  private revokedByReason(account: string | null, since: Date) {
    const q = new SqlConditions();
    q.add(`revoked_at >= ${q.param(since)}`);
    if (account !== null) q.add(`account = ${q.param(account)}`);
    return this.sql.query<{ code: number; count: string | number }>(
      `SELECT revocation_reason AS code, count(*) AS count FROM certificates ${q.where} GROUP BY 1 ORDER BY 2 DESC, 1`,
      q.params,
    );
  }

  private async expiring(account: string | null, now: Date) {
    const q = new SqlConditions();
    const at = (days: number) => q.param(new Date(now.getTime() + days * DAY_MS));
    const [d30, d60, d90] = [at(30), at(60), at(90)];
    q.add(`not_after > ${q.param(now)}`);
    q.add(`not_after <= ${d90}`);
    q.add('revoked_at IS NULL');
    if (account !== null) q.add(`account = ${q.param(account)}`);
    const rows = await this.sql.query<{ d30: string | number; d60: string | number; d90: string | number }>(
      `SELECT count(*) FILTER (WHERE not_after <= ${d30}) AS d30, count(*) FILTER (WHERE not_after <= ${d60}) AS d60, count(*) AS d90
         FROM certificates ${q.where}`,
      q.params,
    );
    return rows[0] ?? { d30: 0, d60: 0, d90: 0 };
  }
}
