import 'reflect-metadata';
import type { Server } from 'node:http';
import { loadConfig, type Config } from './config';
import { createLogger, redactUrl } from './logger';
import { startService } from './service';

/** `mtls-ca serve`: parse config, wire dependencies, listen, stop cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config = loadConfig()): Promise<void> {
  const logger = createLogger(config.LOG_LEVEL);
  logger.info(
    { database: config.DATABASE_URL ? redactUrl(config.DATABASE_URL) : `embedded (${config.MTLS_CA_DATA_DIR})`, publicBaseUrl: config.PUBLIC_BASE_URL },
    'starting mtls-ca',
  );
  const service = await startService(config, logger);
  if (service.bootstrapKey && !config.MTLS_CA_BOOTSTRAP_APP_KEY) {
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
  const server: Server = service.app.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  const address = server.address();
  logger.info({ address, port: typeof address === 'object' && address ? address.port : config.PORT }, 'mtls-ca is listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => server.closeAllConnections(), 10_000);
    force.unref();
    server.close(async () => {
      await service.close().catch((err) => logger.error({ err }, 'closing the ledger failed'));
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
