import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { Clock } from '../domain/clock';
import type { RevocationReason } from '../domain/revocation-reasons';
import type { RevocationObserver } from '../services/certificate-service';
import type { CrlBuildObserver } from '../services/crl-publisher';
import type { OcspAnswerStatus, OcspObserver } from '../services/ocsp-responder';
import type { IssuanceObserver } from '../services/signing-service';
import type { PoolStats } from '../store/ledger';

/** What a scrape answers: the text exposition format and its content type. */
export interface Scrape {
  readonly contentType: string;
  readonly body: string;
}

/** The CRL being served, as the gauges read it at each scrape. */
export interface ServedCrl {
  readonly der: Buffer;
  readonly crlNumber: bigint;
  readonly entries: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

const PREFIX = 'mtlsca_';
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CRL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

let processRegistry: Registry | null = null;

/**
 * prom-client's default process metrics (RSS, CPU, heap, event-loop lag, GC, handles; standard names
 * process_*, nodejs_*), made once per process and shared by every Metrics in it: each set starts an
 * event-loop monitor and a GC observer that cannot be stopped, and they describe the process anyway.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The service's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * several instances in one process do not collide). Services see it only through their narrow
 * observer interfaces; the rate limiter calls `rateLimited`.
 */
export class Metrics implements IssuanceObserver, RevocationObserver, CrlBuildObserver, OcspObserver {
  readonly registry = new Registry();
  private readonly httpRequests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by method, route pattern ("unmatched" when no route matched) and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time from the request reaching the app to the last byte of the answer, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  private readonly issuedCount = new Counter({
    name: `${PREFIX}certificates_issued_total`,
    help: 'Certificates issued through the API (recorded in the ledger), by account.',
    labelNames: ['account'] as const,
    registers: [this.registry],
  });
  private readonly revokedCount = new Counter({
    name: `${PREFIX}certificates_revoked_total`,
    help: 'Revocations recorded by this process, by account and reason (repeated revocations are not counted).',
    labelNames: ['account', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly crlBuild = new Histogram({
    name: `${PREFIX}crl_build_duration_seconds`,
    help: 'Time to build, sign and store a CRL, by kind (full: every entry read; incremental: revocations appended).',
    labelNames: ['kind'] as const,
    buckets: CRL_BUCKETS,
    registers: [this.registry],
  });
  private readonly crlBuildFailures = new Counter({
    name: `${PREFIX}crl_build_failures_total`,
    help: 'CRL builds that failed (each is retried).',
    registers: [this.registry],
  });
  private readonly ocspAnswers = new Counter({
    name: `${PREFIX}ocsp_responses_total`,
    help: 'OCSP answers, by status: good, revoked, unknown, or the error status (malformedRequest, unauthorized, tryLater).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly rateLimitRejections = new Counter({
    name: `${PREFIX}rate_limit_rejections_total`,
    help: 'Requests refused with 429 by the rate limiter, by scope.',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  constructor() {
    // getMetricsAsArray returns the metric instances themselves (typed as plain objects): registered here they stay live.
    for (const metric of processMetrics().getMetricsAsArray()) this.registry.registerMetric(metric as unknown as Metric);
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : 'other';
    this.httpRequests.inc({ method: m, route, status: String(status) });
    this.httpDuration.observe({ method: m, route }, seconds);
  }

  issued(account: string): void {
    this.issuedCount.inc({ account });
  }

  revoked(account: string, reason: RevocationReason): void {
    this.revokedCount.inc({ account, reason });
  }

  crlBuilt(seconds: number, full: boolean): void {
    this.crlBuild.observe({ kind: full ? 'full' : 'incremental' }, seconds);
  }

  crlBuildFailed(): void {
    this.crlBuildFailures.inc();
  }

  ocspAnswered(status: OcspAnswerStatus): void {
    this.ocspAnswers.inc({ status });
  }

  /** OCSP answers by status since this process started (the dashboard's view; /metrics has the cluster's). */
  async ocspAnswerCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const v of (await this.ocspAnswers.get()).values) counts[String(v.labels.status)] = v.value;
    return counts;
  }

  /** A request refused by the rate limiter; `scope` is one of a few fixed names (e.g. "ip", "key"). */
  rateLimited(scope: string): void {
    this.rateLimitRejections.inc({ scope });
  }

  /** Gauges of the CRL being served, read at each scrape (so they include CRLs built by other replicas). */
  /** Seconds until the active issuer's certificate expires (alert when it is below CERT_MAX_VALIDITY_DAYS). */
  watchActiveIssuer(notAfter: () => Date | null, clock: Clock): void {
    new Gauge({
      name: `${PREFIX}active_issuer_expiry_seconds`,
      help: 'Seconds until the active CA issuer certificate expires',
      aggregator: 'min',
      registers: [this.registry],
      collect() {
        const at = notAfter();
        if (at) this.set((at.getTime() - clock.now().getTime()) / 1000);
      },
    });
  }

  watchCrl(current: () => ServedCrl | null, clock: Clock): void {
    const gauge = (name: string, help: string, aggregator: 'max' | 'min', value: (crl: ServedCrl) => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        aggregator,
        registers: [this.registry],
        collect() {
          const crl = current();
          if (crl) this.set(value(crl));
        },
      });
    gauge('crl_number', 'CRL number of the CRL being served.', 'max', (c) => Number(c.crlNumber));
    gauge('crl_entries', 'Revoked certificates listed in the CRL being served.', 'max', (c) => c.entries);
    gauge('crl_size_bytes', 'Size of the CRL being served, DER-encoded (GET /crl).', 'max', (c) => c.der.length);
    gauge('crl_age_seconds', 'Seconds since the thisUpdate of the CRL being served.', 'max', (c) => (clock.now().getTime() - c.thisUpdate.getTime()) / 1000);
    gauge('crl_next_update_timestamp_seconds', 'nextUpdate of the CRL being served, as a Unix time.', 'min', (c) => c.nextUpdate.getTime() / 1000);
  }

  /** Gauges of the PostgreSQL connection pool, read at each scrape. Not registered for PGlite (no pool). */
  watchPool(stats: () => PoolStats | null): void {
    const gauge = (name: string, help: string, value: (s: PoolStats) => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers: [this.registry],
        collect() {
          const s = stats();
          if (s) this.set(value(s));
        },
      });
    if (!stats()) return;
    gauge('db_pool_connections', 'PostgreSQL connections open in the pool (busy and idle).', (s) => s.total);
    gauge('db_pool_idle_connections', 'PostgreSQL connections open and idle in the pool.', (s) => s.idle);
    gauge('db_pool_waiting_requests', 'Queries waiting for a pooled PostgreSQL connection.', (s) => s.waiting);
    gauge('db_pool_max_connections', 'Size limit of the PostgreSQL pool (DATABASE_POOL_SIZE).', (s) => s.max);
  }

  async scrape(): Promise<Scrape> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
