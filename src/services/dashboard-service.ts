import type { Clock } from '../domain/clock';
import { CaError } from '../domain/errors';
import { isAdmin, mayActOnAccount, type Principal } from '../domain/permissions';
import type { CertificateCounts, CertificateStatsRepository } from '../store/certificate-stats-repository';

/** What the dashboard shows about the CRL being served. */
export interface CrlStatus {
  readonly crlNumber: string;
  readonly thisUpdate: string;
  readonly nextUpdate: string;
  readonly entries: number;
  readonly ageSeconds: number;
}

export interface Dashboard extends CertificateCounts {
  /** The account counted; null: every account (an admin's view). */
  readonly account: string | null;
  /** The CRL being served (admins only: its size counts every account's revocations). */
  readonly crl: CrlStatus | null;
  /** OCSP answers by status since this process started; null when metrics are off, and for tenants (every account's traffic). */
  readonly ocspAnswers: Record<string, number> | null;
}

export interface DashboardSources {
  readonly stats: CertificateStatsRepository;
  readonly clock: Clock;
  /** The CRL being served (number, times, entries), or null before the first one. */
  crl(): { crlNumber: bigint; thisUpdate: Date; nextUpdate: Date; entries: number } | null;
  ocspAnswers(): Promise<Record<string, number> | null>;
}

/** The console's dashboard: ledger aggregates within the caller's account, and the CRL and OCSP state. */
export class DashboardService {
  constructor(private readonly sources: DashboardSources) {}

  async summary(principal: Principal, query: { account?: string; days: number }): Promise<Dashboard> {
    if (query.account !== undefined && !isAdmin(principal) && query.account !== principal.account) {
      throw new CaError('forbidden', 'only admins may see other accounts');
    }
    const account = isAdmin(principal) ? (query.account ?? null) : principal.account;
    if (account !== null && !mayActOnAccount(principal, account)) {
      throw new CaError('forbidden', `only admins may see the reserved account "${account}"`);
    }
    const now = this.sources.clock.now();
    const admin = isAdmin(principal);
    const [counts, ocspAnswers] = await Promise.all([this.sources.stats.counts(account, now, query.days), admin ? this.sources.ocspAnswers() : null]);
    const crl = admin ? this.sources.crl() : null;
    return {
      account,
      ...counts,
      crl: crl && {
        crlNumber: crl.crlNumber.toString(),
        thisUpdate: crl.thisUpdate.toISOString(),
        nextUpdate: crl.nextUpdate.toISOString(),
        entries: crl.entries,
        ageSeconds: Math.max(0, Math.round((now.getTime() - crl.thisUpdate.getTime()) / 1000)),
      },
      ocspAnswers,
    };
  }
}
