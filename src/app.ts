import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { CertificateAuthority } from './ca/certificate-authority';
import { CaError } from './domain/errors';
import { recordFailedRequests } from './http/audit';
import { problemHandler } from './http/problem';
import { expressClientIp, withHotRoutes } from './http/hot-routes';
import { requestContext } from './http/request-context';
import { securityHeaders } from './http/security-headers';
import { auditRouter } from './http/routes/audit';
import { caRouter } from './http/routes/ca';
import { issuersRouter } from './http/routes/issuers';
import type { IssuerRegistry } from './services/issuer-registry';
import { healthRouter, type ReadinessProbe } from './http/routes/health';
import { keysRouter } from './http/routes/keys';
import { signHandlers, signRouter } from './http/routes/sign';
import { directChain } from './http/direct-chain';
import { leanSign } from './http/lean-sign';
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
import { routePattern } from './http/route-pattern';
import type { Scrape } from './observability/metrics';
import type { SigningService } from './services/signing-service';
import type { AuditTrail } from './services/audit-trail';
import type { AuditChainReader } from './services/audit-verification';
import type { DashboardService } from './services/dashboard-service';
import { consoleRouter } from './http/routes/console';
import { statsRouter } from './http/routes/stats';
import type { RenewalService } from './services/renewal-service';
import { renewRouter } from './http/routes/renew';
import { clientCertificatesRouter, gatewayTrustRouter, trustAnchorsRouter } from './http/routes/partner-trust';
import type { PartnerTrustService } from './services/partner-trust-service';
import type { Forwarder } from './services/forwarder';
import type { OutboundRouteService } from './services/outbound-route-service';
import { forwardRouter } from './http/routes/forward';
import { outboundRoutesRouter } from './http/routes/outbound-routes';
import type { WebhookService } from './services/webhook-service';
import { webhooksRouter } from './http/routes/webhooks';
import type { IdentityService } from './services/identity-service';
import { identitiesRouter } from './http/routes/identities';
import type { Pkcs12Tester } from './services/pkcs12-tester';
import { pkcs12TestRouter } from './http/routes/pkcs12-test';

export interface AppDeps {
  readonly ca: CertificateAuthority;
  readonly keys: KeyService;
  readonly signing: SigningService;
  readonly certificates: CertificateService;
  readonly crl: CrlPublisher;
  readonly clock: Clock;
  /** Upper bound of the CRL's Cache-Control max-age (it is also bounded by nextUpdate). */
  readonly crlMaxAgeSeconds: number;
  readonly ocsp: Pick<OcspResponder, 'respond'>;
  /** The CA's issuers (rotation): bundle, per-issuer CRLs and certificates, /ca/issuers. */
  readonly issuers?: IssuerRegistry;
  readonly readiness: ReadinessProbe;
  readonly logger: Logger;
  readonly audit: AuditTrail;
  /** The audit records in chain order, for GET /audit/verification. */
  readonly auditChain: AuditChainReader;
  /** The console's dashboard aggregates (GET /stats). */
  readonly dashboard: DashboardService;
  /** Where the built console is (null: not built; /console says how to build it). */
  readonly consoleDir: string | null;
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
  /** POST /private-certificates/renew (authenticated by the client certificate). */
  readonly renewal?: RenewalService;
  /** CLIENT_CERT_HEADER: the header a trusted TLS-terminating proxy puts the client certificate in. */
  readonly clientCertHeader?: string;
  /** Partners' own CAs and registered client certificates (issue 12); absent: those routes are not served. */
  readonly partnerTrust?: PartnerTrustService;
  /** Outbound routes and /forward (issue 13); absent without an identity keyring. */
  readonly outbound?: { readonly routes: OutboundRouteService; readonly forwarder: Forwarder };
  /** Webhook endpoints and their deliveries (issue 13). */
  readonly webhooks?: WebhookService;
  /** POST /pkcs12/test, the PKCS#12 tester; absent: not served. */
  readonly pkcs12Tester?: Pkcs12Tester;
}

const SIGN_PATHS = ['/private-certificates/sign', '/api/edge/private-certificates/sign'];
const CERTIFICATE_PATHS = ['/private-certificates', '/api/edge/private-certificates'];
/** Everything under these answers an API key's request: never cached. */
const AUTHENTICATED_PATHS = [...CERTIFICATE_PATHS, '/keys', '/audit', '/stats', '/trust-anchors', '/client-certificates', '/gateway', '/identities', '/pkcs12'];

/** Builds the HTTP application (no listen: tests drive it with supertest). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  app.set('etag', false);
  // Metrics first, so every answer is counted and timed (429s and early rejections too).
  const first: RequestHandler[] = [...(deps.metrics ? [requestMetrics(deps.metrics.recorder)] : []), securityHeaders, requestContext(deps.logger)];
  const limits: RequestHandler[] = [...(deps.limits ? [requestLimits(deps.limits)] : []), recordFailedRequests({ audit: deps.audit, keys: deps.keys })];
  app.use(first);
  // Before the global limits: /forward has its own body size and deadline (FORWARD_*) and streams.
  if (deps.outbound) app.use('/forward', forwardRouter({ keys: deps.keys, forwarder: deps.outbound.forwarder, audit: deps.audit }));
  app.use(limits);

  // The CRL first: relying parties poll it hardest.
  const issuers = deps.issuers;
  app.use(
    crlRouter({
      publisher: deps.crl,
      clock: deps.clock,
      maxAgeSeconds: deps.crlMaxAgeSeconds,
      byIssuer: issuers ? (id) => issuers.servicesOf(id)?.crl ?? null : undefined,
      all: issuers ? () => issuers.allServices().map((s) => s.crl) : undefined,
    }),
  );
  app.use(ocspRouter(deps.ocsp));
  app.use(healthRouter(deps.readiness));
  if (deps.metrics) app.use(metricsRouter(deps.metrics));
  if (issuers) app.use('/ca/issuers', noStore, issuersRouter(deps.keys, issuers, deps.audit));
  app.use(caRouter(deps.ca, issuers ? { set: () => issuers.issuers, clock: deps.clock } : undefined));
  app.use(consoleRouter(deps.consoleDir));
  app.use(AUTHENTICATED_PATHS, noStore);
  const signLimit = deps.signRateLimit ? [limitPerClientIp(deps.signRateLimit.limiter, deps.signRateLimit.rule)] : [];
  if (deps.signRateLimit) app.post(SIGN_PATHS, signLimit);
  const chainPem = () => (issuers ? issuers.active().ca.chainPem : deps.ca.chainPem);
  const signing = signHandlers({ keys: deps.keys, signing: deps.signing, chainPem });
  const sign = signRouter(signing);
  const certificates = certificatesRouter({ keys: deps.keys, certificates: deps.certificates });
  if (deps.renewal) app.use(CERTIFICATE_PATHS, renewRouter({ renewal: deps.renewal, chainPem: () => deps.ca.chainPem, clientCertHeader: deps.clientCertHeader }));
  app.use(CERTIFICATE_PATHS, sign, certificates);
  app.use('/keys', keysRouter(deps.keys));
  app.use('/audit', auditRouter({ keys: deps.keys, audit: deps.audit, chain: deps.auditChain }));
  app.use('/stats', statsRouter({ keys: deps.keys, dashboard: deps.dashboard }));
  if (deps.partnerTrust) {
    const trustDeps = { keys: deps.keys, trust: deps.partnerTrust };
    app.use('/trust-anchors', trustAnchorsRouter(trustDeps));
    app.use('/client-certificates', clientCertificatesRouter(trustDeps));
    app.use('/gateway', gatewayTrustRouter(trustDeps));
  }
  if (deps.outbound) app.use('/outbound-routes', noStore, outboundRoutesRouter({ keys: deps.keys, routes: deps.outbound.routes }));
  if (deps.webhooks) app.use('/webhooks', noStore, webhooksRouter({ keys: deps.keys, webhooks: deps.webhooks }));
  if (deps.identities) app.use('/identities', identitiesRouter({ keys: deps.keys, identities: deps.identities }));
  if (deps.pkcs12Tester) {
    const forwarder = deps.outbound?.forwarder;
    app.use('/pkcs12', pkcs12TestRouter({ keys: deps.keys, tester: deps.pkcs12Tester, admitTarget: forwarder ? (principal, target) => forwarder.admit(principal, target) : null }));
  }

  app.use((req, _res) => {
    throw new CaError('not-found', `no route for ${req.method} ${req.path.slice(0, 200)}`);
  });
  const problems = problemHandler(deps.logger);
  app.use(problems);
  // GET /crl, /crl.pem and /ocsp/{request} skip the chain above (same answers, headers, metrics, logs);
  // POST …/sign is answered by leanSign from node:http; what it does not take whole runs the same
  // handlers the router would reach, without walking the other routes.
  const signChain = (path: string) => directChain(app, [...first, ...limits, noStore, ...signLimit, routePattern(path), ...signing], problems);
  const clientIp = expressClientIp(app);
  const lean = { app, keys: deps.keys, signing: deps.signing, audit: deps.audit, chainPem, logger: deps.logger, metrics: deps.metrics?.recorder, limits: deps.limits, signRateLimit: deps.signRateLimit, clientIp, problems };
  withHotRoutes(app, {
    posts: new Map(SIGN_PATHS.map((path) => [path, leanSign(lean, path, signChain(path))])),
    crl: { publisher: deps.crl, clock: deps.clock, maxAgeSeconds: deps.crlMaxAgeSeconds },
    ocsp: deps.ocsp,
    logger: deps.logger,
    metrics: deps.metrics?.recorder,
    limits: deps.limits,
    clientIp,
  });
  return app;
}
