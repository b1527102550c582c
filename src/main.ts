import 'reflect-metadata';
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { loadConfig, type Config } from './config';
import { createLogger, redactUrl } from './logger';
import { createHttpServer, createHttpsServer, type HttpServerLimits } from './http/server';
import { gracefulServer } from './http/graceful-server';
import { startService, type Service } from './service';
import { aggregateWorkerMetrics } from './observability/cluster-metrics';

export function httpLimitsOf(config: Config): HttpServerLimits {
  return {
    maxBodyBytes: config.MAX_BODY_BYTES,
    maxHeaderBytes: config.MAX_HEADER_BYTES,
    maxUrlLength: config.MAX_URL_LENGTH,
    maxJsonDepth: config.MAX_JSON_DEPTH,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
  };
}

/**
 * `mtls-ca serve`: parse config, wire dependencies, listen, stop cleanly on SIGTERM/SIGINT.
 * With WORKERS > 1 (PostgreSQL only) the primary prepares the CA, migrations and the first admin key
 * once, then forks that many workers that share the port; each is a full replica.
 */
export async function serve(config: Config = loadConfig()): Promise<void> {
  const logger = createLogger(config.LOG_LEVEL);
  if (config.WORKERS > 1 && cluster.isPrimary) return runPrimary(config, logger);
  return runServer(config, cluster.isWorker ? logger.child({ worker: cluster.worker?.id }) : logger);
}

function announceBootstrapKey(service: Service, config: Config): void {
  if (!service.bootstrapKey || config.MTLS_CA_BOOTSTRAP_APP_KEY) return;
  process.stdout.write(
    [
      '',
      '  mtls-ca created the first admin API key. It is shown only now; keep it safe:',
      '',
      `    export ADMIN_KEY=${service.bootstrapKey.appKey}`,
      `    export ADMIN_TOKEN=${service.bootstrapKey.appToken}`,
      '',
    ].join('\n') + '\n',
  );
}

function describeDatabase(config: Config): string {
  return config.DATABASE_URL ? redactUrl(config.DATABASE_URL) : `embedded (${config.MTLS_CA_DATA_DIR})`;
}

async function runPrimary(config: Config, logger: Logger): Promise<void> {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    // Each worker bounds its own stop; this is the backstop.
    setTimeout(() => process.exit(0), config.SHUTDOWN_TIMEOUT_MS + config.DATABASE_TIMEOUT_MS + 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  logger.info({ database: describeDatabase(config), workers: config.WORKERS }, 'starting mtls-ca');
  // The primary serves nothing: no HTTPS server certificate for it (each worker issues its own).
  const prepared = await startService({ ...config, HTTPS_PORT: undefined }, logger);
  announceBootstrapKey(prepared, config);
  await prepared.close();
  if (stopping) process.exit(0); // stopped during start-up: no worker to wait for

  if (config.METRICS_ENABLED) aggregateWorkerMetrics();
  const fork = () => cluster.fork();
  for (let i = 0; i < config.WORKERS; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ worker: worker.id, code, signal }, 'a worker died; starting another');
    setTimeout(fork, 500);
  });
}

async function runServer(config: Config, logger: Logger): Promise<void> {
  // A signal during start-up is kept and acted on once the service is up (it then closes cleanly).
  let early: string | undefined;
  let stop = (signal: string) => void (early ??= signal);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  if (!cluster.isWorker) logger.info({ database: describeDatabase(config), publicBaseUrl: config.PUBLIC_BASE_URL }, 'starting mtls-ca');
  const service = await startService(config, logger);
  announceBootstrapKey(service, config);
  const server: Server = createHttpServer(service.app, httpLimitsOf(config), logger).listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const graceful = gracefulServer(server);
  const address = server.address();
  logger.info({ address, port: typeof address === 'object' && address ? address.port : config.PORT }, 'mtls-ca is listening');
  // HTTPS_PORT: the same API over TLS, asking for (not requiring) a client certificate.
  let gracefulHttps: ReturnType<typeof gracefulServer> | null = null;
  if (service.tls && config.HTTPS_PORT !== undefined) {
    const https = createHttpsServer(service.app, httpLimitsOf(config), service.tls, logger).listen(config.HTTPS_PORT, config.HOST);
    await new Promise<void>((resolve, reject) => {
      https.once('listening', resolve);
      https.once('error', reject);
    });
    gracefulHttps = gracefulServer(https);
    const httpsAddress = https.address();
    logger.info({ httpsPort: typeof httpsAddress === 'object' && httpsAddress ? httpsAddress.port : config.HTTPS_PORT }, 'mtls-ca is listening for HTTPS');
  }

  let stopping = false;
  stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down: no new connections; finishing the requests in flight');
    const closed = Promise.all([graceful.close(config.SHUTDOWN_TIMEOUT_MS), gracefulHttps?.close(config.SHUTDOWN_TIMEOUT_MS)]);
    void closed.then(async ([{ forced }, https]) => {
      forced ||= https?.forced ?? false;
      if (forced) logger.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'cut the requests still in flight at SHUTDOWN_TIMEOUT_MS');
      // Handlers of cut requests may still hold a connection for up to DATABASE_TIMEOUT_MS.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.DATABASE_TIMEOUT_MS + 1000)));
      await Promise.race([service.close().catch((err) => logger.error({ err }, 'closing the ledger failed')), bound]);
      clearTimeout(timer);
      logger.info('stopped');
      process.exit(0);
    });
  };
  if (early) stop(early);
}
