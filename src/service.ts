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
import { OcspResponder } from './services/ocsp-responder';
import { RateLimiter } from './services/rate-limiter';
import { AuthGuard } from './services/auth-guard';
import { openToOthers, restrictToOwner } from './store/data-dir-modes';
import { RATE_LIMIT_TABLE, rateLimitSqlClient } from './store/rate-limit-repository';
import { Metrics } from './observability/metrics';
import { clusterScrape } from './observability/cluster-metrics';
import { AuditTrail } from './services/audit-trail';
import { IdentityService } from './services/identity-service';
import { IdentityRepository } from './store/identity-repository';

/** Things tests replace: time, serial numbers, crypto, and the ledger target. */
export interface ServiceOverrides {
  clock?: Clock;
  serials?: SerialSource;
  crypto?: Crypto;
  ledgerTarget?: LedgerTarget;
  /** CRL timing (tests shorten the poll interval). */
  crl?: Partial<CrlPublisherParams>;
}

export interface Service {
  readonly app: Express;
  readonly ledger: Ledger;
  readonly ca: CertificateAuthority;
  readonly keys: KeyService;
  readonly crl: CrlPublisher;
  readonly audit: AuditTrail;
  /** Secrets wrapped in the ledger by MTLS_CA_MASTER_KEY (null without it), for features that keep private keys. */
  readonly vault: SecretVault | null;
  /** Client identities (issue 13); also the IdentityKeyring of the outgoing side. */
  readonly identities: IdentityService;
  /** Prometheus metrics (null when METRICS_ENABLED=false); the rate limiter reports to `rateLimited`. */
  readonly metrics: Metrics | null;
  /** The admin key created on this start (first start only), to show once. */
  readonly bootstrapKey: CreatedKey | null;
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
  const ledger = await openLedger(overrides.ledgerTarget ?? ledgerTargetFor(config));
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
    const signing = new SigningService({ ca, profile, ledger: ledger.certificates, clock, serials, observer, audit });
    const identities = new IdentityService({ repository: new IdentityRepository(ledger.sql), vault: custody.vault, signing, clock, audit });
    const crl = new CrlPublisher({
      ca,
      store: ledger.crls,
      clock,
      logger,
      observer,
      params: {
        validityMs: config.CRL_VALIDITY,
        refreshMs: config.CRL_REFRESH_INTERVAL ?? Math.floor(config.CRL_VALIDITY / 4),
        pollMs: 200,
        debounceMs: 50,
        ...overrides.crl,
      },
    });
    await crl.start();
    metrics?.watchCrl(() => crl.current(), clock);
    const ocsp = new OcspResponder({
      ca,
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
    await ocsp.start();
    const certificates = new CertificateService(
      ledger.certificates,
      clock,
      () => {
        ocsp.revocationCommitted(); // before the DELETE answers: no cached 'good' outlives it here
        void crl.rebuild().catch(() => undefined);
      },
      audit,
      observer,
    );
    const app = createApp({
      ocsp,
      certificates,
      crl,
      clock,
      crlMaxAgeSeconds: config.CRL_CACHE_MAX_AGE_SECONDS,
      ca,
      keys,
      signing,
      logger,
      audit,
      identities,
      trustProxy: config.TRUST_PROXY,
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
      readiness: { check: async () => ({ database: await ledger.ping(), caKey: true, crl: (crl.current()?.nextUpdate.getTime() ?? 0) > clock.now().getTime() }) },
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
      close: async () => {
        crl.stop();
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
