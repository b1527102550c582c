import 'reflect-metadata';
import cluster from 'node:cluster';
import path from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { createApp } from './app';
import type { SecretVault } from './ca/secret-vault';
import { resolveCaCustody, type CaCustodyParams } from './ca/ca-custody';
import { logCustody } from './ca/custody-log';
import type { Config } from './config';
import { TokenHasher } from './domain/api-key';
import type { CertificateAuthority } from './ca/certificate-authority';
import { systemClock, type Clock } from './domain/clock';
import { IssuanceProfile } from './domain/issuance-profile';
import { randomSerialSource, type SerialSource } from './domain/serial-number';
import { openLedger, type Ledger, type LedgerTarget } from './store/ledger';
import { KeyService, type CreatedKey } from './services/key-service';
import { SigningService } from './services/signing-service';
import { CertificateService } from './services/certificate-service';
import { CrlPublisher, type CrlPublisherParams } from './services/crl-publisher';
import { IssuerRegistry } from './services/issuer-registry';
import { issuerLifeWarning } from './services/issuer-life-warning';
import { OcspResponder } from './services/ocsp-responder';
import { RateLimiter } from './services/rate-limiter';
import { AuthGuard } from './services/auth-guard';
import { openToOthers, restrictToOwner } from './store/data-dir-modes';
import { RATE_LIMIT_TABLE, rateLimitSqlClient } from './store/rate-limit-repository';
import { Metrics } from './observability/metrics';
import { clusterScrape } from './observability/cluster-metrics';
import { AuditTrail } from './services/audit-trail';
import { DashboardService } from './services/dashboard-service';
import { CertificateStatsRepository } from './store/certificate-stats-repository';
import { packagePath } from './package-dir';
import { RenewalService } from './services/renewal-service';

export type { HttpsCredentials } from './wiring/https-credentials';
import { PartnerTrustService } from './services/partner-trust-service';
import type { IdentityKeyring } from './domain/client-identity';
import { Pkcs12Tester } from './services/pkcs12-tester';
import { IdentityService } from './services/identity-service';
import { IdentityRepository } from './store/identity-repository';
import type { HostResolver } from './outbound/connector';
import type { Forwarder } from './services/forwarder';
import type { WebhookDispatcher } from './services/webhook-dispatcher';
import { startHttpsCredentials, type HttpsCredentials } from './wiring/https-credentials';
import { startOutgoing } from './wiring/outgoing';

/** Things tests replace: time, serial numbers, crypto, and the ledger target. */
export interface ServiceOverrides {
  clock?: Clock;
  serials?: SerialSource;
  crypto?: Crypto;
  ledgerTarget?: LedgerTarget;
  /** CRL timing (tests shorten the poll interval). */
  crl?: Partial<CrlPublisherParams>;
  /** How often replicas look for a rotation made elsewhere (default 250 ms). */
  issuerPollMs?: number;
  /** How often the self-issued TLS server certificate is checked for renewal (tests shorten it). */
  tlsCheckIntervalMs?: number;
  /** Where the outgoing side gets client identities' TLS material (default: the identities service). */
  keyring?: IdentityKeyring;
  /** Host name resolution of the outgoing side (tests answer private addresses). */
  resolver?: HostResolver;
  /** Webhook worker timing (tests shorten the poll and the expiry scan). */
  webhooks?: { pollMs?: number; expiryScanMs?: number };
}

export interface Service {
  readonly app: Express;
  readonly ledger: Ledger;
  readonly ca: CertificateAuthority;
  readonly keys: KeyService;
  readonly crl: CrlPublisher;
  /** The CA's issuers: rotation, and the lookup other features use (issuers.issuers.issuerOf/active/all). */
  readonly issuers: IssuerRegistry;
  readonly audit: AuditTrail;
  /** Secrets wrapped in the ledger by MTLS_CA_MASTER_KEY (null without it), for features that keep private keys. */
  readonly vault: SecretVault | null;
  /** Client identities (issue 13); also the IdentityKeyring of the outgoing side. */
  readonly identities: IdentityService;
  /** Prometheus metrics (null when METRICS_ENABLED=false); the rate limiter reports to `rateLimited`. */
  readonly metrics: Metrics | null;
  /** The admin key created on this start (first start only), to show once. */
  readonly bootstrapKey: CreatedKey | null;
  /** HTTPS_PORT's key and certificate (self-issued and renewed, or TLS_CERT_FILE/TLS_KEY_FILE); null without HTTPS_PORT. */
  readonly tls: HttpsCredentials | null;
  /** The outgoing side: routes and the forwarder (null without an identity keyring); the egress proxy serves it too. */
  readonly forwarder: Forwarder | null;
  /** The webhook outbox worker (deliveries and the expiry scan). */
  readonly webhookDispatcher: WebhookDispatcher;
  close(): Promise<void>;
}

/**
 * Makes what the service keeps in its data directory owner-only (an earlier version left files 0666),
 * once per start; the embedded database's `pglite/` is done by the store whenever it opens it. Warns
 * when the directory itself lets group or others in.
 */
async function secureDataDir(dataDir: string, logger: Logger): Promise<void> {
  let tightened = 0;
  for (const entry of ['ca', 'token-pepper']) tightened += await restrictToOwner(path.join(dataDir, entry));
  if (tightened > 0) logger.info({ dataDir, tightened }, 'made the CA files and the token pepper owner-only (0600 files, 0700 directories)');
  const mode = await openToOthers(dataDir);
  if (mode !== null) {
    logger.warn(
      { dataDir, mode: `0${mode.toString(8)}` },
      'the data directory is accessible to other users (group or world); make it owner-only: chmod 700',
    );
  }
}

export function ledgerTargetFor(config: Config): LedgerTarget {
  return config.DATABASE_URL
    ? { kind: 'postgres', url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, timeoutMs: config.DATABASE_TIMEOUT_MS }
    : { kind: 'pglite', dataDir: config.MTLS_CA_DATA_DIR };
}

/** The CA_* settings, the master key and the pepper, as the custody resolution takes them. */
export function custodyParamsOf(config: Config): CaCustodyParams {
  return {
    dataDir: config.MTLS_CA_DATA_DIR,
    certFile: config.CA_CERT_FILE,
    keyFile: config.CA_KEY_FILE,
    chainFile: config.CA_CHAIN_FILE,
    passphrase: config.CA_KEY_PASSPHRASE,
    subject: config.CA_SUBJECT,
    keyAlgorithm: config.CA_KEY_ALGORITHM,
    validityDays: config.CA_VALIDITY_DAYS,
    masterKey: config.MTLS_CA_MASTER_KEY,
    pepperFromEnv: config.API_TOKEN_PEPPER,
    pkcs11: config.CA_KEY_PKCS11_URI
      ? { uri: config.CA_KEY_PKCS11_URI, pin: config.CA_KEY_PKCS11_PIN, sessions: config.CA_KEY_PKCS11_SESSIONS }
      : undefined,
  };
}

/** Wires everything from the parsed config: ledger, CA, keys, services, HTTP app. */
export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Service> {
  const clock = overrides.clock ?? systemClock;
  const serials = overrides.serials ?? randomSerialSource;
  const crypto = overrides.crypto ?? globalThis.crypto;

  // The ledger first: the CA identity and the secrets are resolved against it (see ca-custody).
  const ledgerTarget = overrides.ledgerTarget ?? ledgerTargetFor(config);
  const ledger = await openLedger(ledgerTarget);
  try {
    const custody = await resolveCaCustody(ledger.sql, custodyParamsOf(config), crypto, clock, serials);
    const { ca } = custody;
    logCustody(custody, ledger.kind, logger);
    const pepper = custody.pepper.pepper;
    await secureDataDir(config.MTLS_CA_DATA_DIR, logger);
    const audit = new AuditTrail(ledger.audit, clock, logger);
    await audit.record({
      action: 'ca.load',
      outcome: 'success',
      details: {
        keyId: ca.keyId,
        subject: ca.certificate.subject,
        notAfter: ca.notAfter.toISOString(),
        generated: String(custody.origin === 'generated'),
        backend: custody.identity.backend,
        pin: custody.pin,
      },
    });
    // Rate limits: in PostgreSQL, one table shared by every replica (insured in memory); on the embedded
    // database, in memory (one process; the same counts in PGlite cost ~4 ms a request, measured).
    const metrics = config.METRICS_ENABLED ? new Metrics() : null;
    let lastLimiterWarning = 0;
    const limiter = new RateLimiter({
      onRejected: (scope) => metrics?.rateLimited(scope),
      store: ledger.kind === 'postgres' ? { client: rateLimitSqlClient(ledger.sql), tableName: RATE_LIMIT_TABLE } : undefined,
      onStoreFailure: (err) => {
        if (Date.now() - lastLimiterWarning < 10_000) return;
        lastLimiterWarning = Date.now();
        logger.warn({ err }, 'the shared rate-limit table is unavailable; limiting by this process alone');
      },
    });
    const guard = new AuthGuard(limiter, {
      failuresPerKeyAndIp: config.AUTH_FAILURE_LIMIT,
      // AUTH_FAILURE_LIMIT=0 turns the whole failure throttle off, as it always did.
      failuresPerIp: config.AUTH_FAILURE_LIMIT === 0 ? 0 : config.AUTH_FAILURE_LIMIT_PER_IP,
      failureWindowMs: config.AUTH_FAILURE_WINDOW_MS,
      maxBlockMs: config.AUTH_FAILURE_MAX_BLOCK_MS,
      perKey: { scope: 'key', limit: config.RATE_LIMIT_PER_KEY, windowMs: 1000 },
    });
    const keys = new KeyService(ledger.apiKeys, new TokenHasher(pepper), clock, audit, config.API_KEY_CACHE_MS, guard);
    const bootstrapPair =
      config.MTLS_CA_BOOTSTRAP_APP_KEY && config.MTLS_CA_BOOTSTRAP_APP_TOKEN
        ? { appKey: config.MTLS_CA_BOOTSTRAP_APP_KEY, appToken: config.MTLS_CA_BOOTSTRAP_APP_TOKEN }
        : undefined;
    const bootstrapKey = await keys.bootstrap(bootstrapPair);
    if (bootstrapKey) logger.info({ appKey: bootstrapKey.appKey }, 'created the first admin API key');

    const profile = new IssuanceProfile({
      validityDays: config.CERT_VALIDITY_DAYS,
      maxValidityDays: config.CERT_MAX_VALIDITY_DAYS,
      backdateSeconds: config.CERT_BACKDATE_SECONDS,
      publicBaseUrl: config.PUBLIC_BASE_URL,
    });
    const observer = metrics ?? undefined;
    metrics?.watchPool(() => ledger.poolStats());
    const crlParams: CrlPublisherParams = {
      validityMs: config.CRL_VALIDITY,
      refreshMs: config.CRL_REFRESH_INTERVAL ?? Math.floor(config.CRL_VALIDITY / 4),
      pollMs: 200,
      debounceMs: 50,
      ...overrides.crl,
    };
    // Every issuer that signs or signed has its own CRL (own number) and OCSP responder (own delegated signer).
    const issuers = new IssuerRegistry({
      db: ledger.sql,
      original: { ca, backend: custody.identity.backend },
      vault: custody.vault,
      dataDir: config.MTLS_CA_DATA_DIR,
      passphrase: config.CA_KEY_PASSPHRASE,
      root: { subject: config.CA_SUBJECT, keyAlgorithm: config.CA_KEY_ALGORITHM, validityDays: config.CA_VALIDITY_DAYS },
      profile,
      clock,
      crypto,
      logger,
      pollMs: overrides.issuerPollMs,
      startServices: async (issuerCa, issuerId) => {
        const crl = new CrlPublisher({ ca: issuerCa, store: ledger.crls, clock, logger: logger.child({ issuer: issuerId }), observer, params: crlParams });
        await crl.start();
        const ocsp = new OcspResponder({
          ca: issuerCa,
          ledger: ledger.certificates,
          revocationMark: () => crl.revocationMark(),
          clock,
          crypto,
          serials,
          logger,
          audit,
          params: { validityMs: config.OCSP_VALIDITY, signWithCa: config.OCSP_SIGN_WITH_CA, signerValidityMs: config.OCSP_SIGNER_VALIDITY },
          observer,
        });
        try {
          await ocsp.start();
        } catch (e) {
          crl.stop();
          throw e;
        }
        return { crl, ocsp };
      },
    });
    await issuers.start();
    const originalId = issuers.issuers.original()!.record.id;
    const crl = issuers.servicesOf(originalId)!.crl;
    const warnIssuerLife = issuerLifeWarning(issuers, clock, config.CERT_MAX_VALIDITY_DAYS, logger, metrics);
    const signing = new SigningService({ ca: () => issuers.active(), profile, ledger: ledger.certificates, clock, serials, observer, audit });
    // Client identities (issue 13): keys generated and wrapped here, certificates through the same signing path.
    const identities = new IdentityService({ repository: new IdentityRepository(ledger.sql), vault: custody.vault, signing, clock, audit });
    metrics?.watchCrl(() => crl.current(), clock);
    const ocsp = { respond: (der: Buffer, log?: Logger) => issuers.respondOcsp(der, log) };
    const certificates = new CertificateService(
      ledger.certificates,
      clock,
      // Before the DELETE answers: no cached 'good' outlives it here; the issuer's CRL is rebuilt.
      (issuerKeyId) => issuers.revocationCommitted(issuerKeyId),
      audit,
      observer,
    );
    const dashboard = new DashboardService({
      stats: new CertificateStatsRepository(ledger.sql),
      clock,
      crl: () => crl.current(),
      ocspAnswers: async () => (metrics ? metrics.ocspAnswerCounts() : null),
    });
    const renewal = new RenewalService({
      issuedHere: async (der) => (await issuers.issuers.issuerOf(der)) !== null,
      signing,
      ledger: ledger.certificates,
      clock,
      audit,
      limiter,
      params: { afterExpiryMs: config.RENEW_AFTER_EXPIRY ?? 0, minIntervalMs: config.RENEW_MIN_INTERVAL_SECONDS * 1000 },
      onRevoked: (account, reason, issuerKeyId) => {
        issuers.revocationCommitted(issuerKeyId);
        observer?.revoked(account, reason);
      },
    });
    const https = await startHttpsCredentials(config, { ca, ledger: ledger.certificates, audit, clock, crypto, serials, logger, checkIntervalMs: overrides.tlsCheckIntervalMs });
    const tls = https.tls;
    const outgoing = await startOutgoing(config, {
      ledger,
      vault: custody.vault,
      keyring: overrides.keyring ?? identities,
      limiter,
      clock,
      crypto,
      logger,
      resolver: overrides.resolver,
      webhookTiming: overrides.webhooks,
      listenUrl: ledgerTarget.kind === 'postgres' ? ledgerTarget.url : undefined,
    });
    const app = createApp({
      dashboard,
      consoleDir: packagePath(path.join('dist', 'console')),
      auditChain: ledger.audit,
      renewal,
      clientCertHeader: config.CLIENT_CERT_HEADER,
      webhooks: outgoing.webhooks,
      outbound: outgoing.outbound,
      // The P12 tester's live handshake goes out through the same SSRF-safe connector as /forward.
      pkcs12Tester: new Pkcs12Tester({ clock, connector: outgoing.connector }),
      ocsp,
      certificates,
      crl,
      clock,
      crlMaxAgeSeconds: config.CRL_CACHE_MAX_AGE_SECONDS,
      ca,
      issuers,
      keys,
      signing,
      logger,
      audit,
      identities,
      trustProxy: config.TRUST_PROXY,
      partnerTrust: new PartnerTrustService(ledger.partnerTrust, clock, audit),
      limits: {
        maxBodyBytes: config.MAX_BODY_BYTES,
        maxUrlLength: config.MAX_URL_LENGTH,
        maxJsonDepth: config.MAX_JSON_DEPTH,
        requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
      },
      signRateLimit: { limiter, rule: { scope: 'sign-ip', limit: config.RATE_LIMIT_SIGN_PER_IP, windowMs: 1000 } },
      // A worker's scrape answers for the whole cluster (the primary sums every worker's registry).
      metrics: metrics
        ? { recorder: metrics, token: config.METRICS_TOKEN, scrape: cluster.isWorker ? clusterScrape(metrics.registry) : () => metrics.scrape() }
        : undefined,
      readiness: {
        check: async () => ({
          database: await ledger.ping(),
          caKey: issuers.issuers.active()?.ca != null && issuers.issuers.active()!.ca!.notAfter.getTime() > clock.now().getTime(),
          crl: (crl.current()?.nextUpdate.getTime() ?? 0) > clock.now().getTime(),
        }),
        details: async () => warnIssuerLife(),
      },
    });
    return {
      app,
      ledger,
      ca,
      keys,
      crl,
      audit,
      vault: custody.vault,
      identities,
      metrics,
      bootstrapKey,
      issuers,
      tls,
      forwarder: outgoing.outbound.forwarder,
      webhookDispatcher: outgoing.webhookDispatcher,
      close: async () => {
        https.stop();
        issuers.stop();
        await outgoing.close();
        await audit.drain();
        await ledger.close();
        await ca.signer.close();
      },
    };
  } catch (e) {
    await ledger.close();
    throw e;
  }
}
