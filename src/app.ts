import express, { type Express } from 'express';
import helmet from 'helmet';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CertificateAuthority } from './ca/certificate-authority';
import { CaError } from './domain/errors';
import { recordFailedRequests } from './http/audit';
import { problemHandler } from './http/problem';
import { auditRouter } from './http/routes/audit';
import { caRouter } from './http/routes/ca';
import { healthRouter, type ReadinessProbe } from './http/routes/health';
import { keysRouter } from './http/routes/keys';
import { signRouter } from './http/routes/sign';
import { certificatesRouter } from './http/routes/certificates';
import { crlRouter } from './http/routes/crl';
import type { Clock } from './domain/clock';
import type { CertificateService } from './services/certificate-service';
import type { CrlPublisher } from './services/crl-publisher';
import type { KeyService } from './services/key-service';
import type { OcspResponder } from './services/ocsp-responder';
import { ocspRouter } from './http/routes/ocsp';
import { limitPerClientIp } from './http/rate-limit';
import { noStore } from './http/no-store';
import { requestLimits, type RequestLimits } from './http/request-limits';
import type { RateLimiter, RateRule } from './services/rate-limiter';
import { metricsRouter } from './http/routes/metrics';
import { requestMetrics, type RequestRecorder } from './http/request-metrics';
import type { Scrape } from './observability/metrics';
import type { SigningService } from './services/signing-service';
import type { AuditTrail } from './services/audit-trail';
import type { IdentityService } from './services/identity-service';
import { identitiesRouter } from './http/routes/identities';

export interface AppDeps {
  readonly ca: CertificateAuthority;
  readonly keys: KeyService;
  readonly signing: SigningService;
  readonly certificates: CertificateService;
  readonly crl: CrlPublisher;
  readonly clock: Clock;
  /** Upper bound of the CRL's Cache-Control max-age (it is also bounded by nextUpdate). */
  readonly crlMaxAgeSeconds: number;
  readonly ocsp: OcspResponder;
  readonly readiness: ReadinessProbe;
  readonly logger: Logger;
  readonly audit: AuditTrail;
  /** Client identities (issue 13); absent: no /identities. */
  readonly identities?: IdentityService;
  /** Express "trust proxy": hops or addresses whose X-Forwarded-For is believed (TRUST_PROXY). */
  readonly trustProxy?: boolean | number | string[];
  /** URL length, body size, JSON depth and time limits; absent: only the per-route body limits. */
  readonly limits?: RequestLimits;
  /** Per-client-IP limit on signing. */
  readonly signRateLimit?: { limiter: RateLimiter; rule: RateRule };
  /** Prometheus metrics and GET /metrics (absent when METRICS_ENABLED=false). */
  readonly metrics?: { readonly recorder: RequestRecorder; scrape(): Promise<Scrape>; readonly token?: string };
}

const SIGN_PATHS = ['/private-certificates/sign', '/api/edge/private-certificates/sign'];
const CERTIFICATE_PATHS = ['/private-certificates', '/api/edge/private-certificates'];
/** Everything under these answers an API key's request: never cached. */
const AUTHENTICATED_PATHS = [...CERTIFICATE_PATHS, '/keys', '/audit', '/identities'];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the HTTP application (no listen: tests drive it with supertest). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  app.set('etag', false);
  // First, so every answer is counted and timed (429s and early rejections too).
  if (deps.metrics) app.use(requestMetrics(deps.metrics.recorder));

  // Security headers on every answer (an API: no framing, no sniffing, no referrer, strict CSP).
  app.use(helmet({ contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } }));
  app.use((req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    res.locals.requestId = id;
    // Anything that logs about this request uses this logger, so every line carries the request id.
    res.locals.logger = deps.logger.child({ requestId: id });
    if (deps.logger.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        deps.logger.info(
          { requestId: id, method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6, ip: req.ip },
          'request',
        );
      });
    }
    next();
  });
  if (deps.limits) app.use(requestLimits(deps.limits));
  app.use(recordFailedRequests({ audit: deps.audit, keys: deps.keys }));

  // The CRL first: relying parties poll it hardest.
  app.use(crlRouter({ publisher: deps.crl, clock: deps.clock, maxAgeSeconds: deps.crlMaxAgeSeconds }));
  app.use(ocspRouter(deps.ocsp));
  app.use(healthRouter(deps.readiness));
  if (deps.metrics) app.use(metricsRouter(deps.metrics));
  app.use(caRouter(deps.ca));
  app.use(AUTHENTICATED_PATHS, noStore);
  if (deps.signRateLimit) app.post(SIGN_PATHS, limitPerClientIp(deps.signRateLimit.limiter, deps.signRateLimit.rule));
  const sign = signRouter({ keys: deps.keys, signing: deps.signing, chainPem: () => deps.ca.chainPem });
  const certificates = certificatesRouter({ keys: deps.keys, certificates: deps.certificates });
  app.use(CERTIFICATE_PATHS, sign, certificates);
  app.use('/keys', keysRouter(deps.keys));
  app.use('/audit', auditRouter({ keys: deps.keys, audit: deps.audit }));
  if (deps.identities) app.use('/identities', identitiesRouter({ keys: deps.keys, identities: deps.identities }));

  app.use((req, _res) => {
    throw new CaError('not-found', `no route for ${req.method} ${req.path.slice(0, 200)}`);
  });
  app.use(problemHandler(deps.logger));
  return app;
}
