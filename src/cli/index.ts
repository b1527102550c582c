import 'reflect-metadata';
import { ConfigError } from '../config';
import { CaError } from '../domain/errors';
import { serve } from '../main';
import { keysCommand } from './keys-command';
import { auditCommand } from './audit-command';
import { secretsCommand } from './secrets-command';
import { caCommand } from './ca-command';
import { certCommand } from './cert-command';
import { loadGatewayConfig } from '../gateway/gateway-config';
import { startGateway } from '../gateway/gateway';
import { createLogger } from '../logger';
import { loadConfig } from '../config';
import { startService } from '../service';
import { loadEgressConfig } from '../egress/egress-config';
import { startEgress } from '../egress/egress-proxy';

const HELP = `mtls-ca — a certificate authority for mutual TLS

usage:
  mtls-ca serve                 run the CA service (configured by environment variables; see README)
  mtls-ca keys ...              manage API keys (mtls-ca keys --help)
  mtls-ca audit verify          check the audit trail's hash chain (mtls-ca audit --help)
  mtls-ca secrets rewrap        re-wrap the ledger's secrets under a new MTLS_CA_MASTER_KEY (mtls-ca secrets --help)
  mtls-ca ca list|rotate|activate  the CA's issuers: rotate the CA (mtls-ca ca --help)
  mtls-ca cert request|renew     obtain or renew a client certificate (mtls-ca cert --help)
  mtls-ca gateway               run the mTLS gateway in front of an upstream (GATEWAY_* variables; see README)
  mtls-ca egress                run the egress proxy: plain HTTP in, mTLS out with the account's identities (EGRESS_* variables; see README)
`;

async function main(argv: string[]): Promise<number> {
  // Everything this process writes (CA key, token pepper, the embedded database's files) is owner-only.
  process.umask(0o077);
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve();
      return -1; // keeps running
    case 'keys':
      return keysCommand(rest);
    case 'audit':
      return auditCommand(rest);
    case 'secrets':
      return secretsCommand(rest);
    case 'ca':
      return caCommand(rest);
    case 'cert':
      return certCommand(rest);
    case 'gateway': {
      const config = loadGatewayConfig();
      const gateway = await startGateway(config, createLogger(config.LOG_LEVEL));
      const stop = () => void gateway.stop().then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      return -1;
    }
    case 'egress': {
      // The egress proxy opens the ledger with MTLS_CA_MASTER_KEY as the service does: it needs the
      // identities' private keys, which never leave the ledger unwrapped.
      const egressConfig = loadEgressConfig();
      const config = loadConfig();
      const logger = createLogger(config.LOG_LEVEL);
      const service = await startService(config, logger);
      if (!service.forwarder) {
        await service.close();
        throw new Error('the egress proxy needs client identities (MTLS_CA_MASTER_KEY and the identities feature)');
      }
      const egress = await startEgress(egressConfig, { keys: service.keys, forwarder: service.forwarder }, logger);
      const stop = () => void egress.stop().then(() => service.close()).then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      return -1;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const message = err instanceof ConfigError || err instanceof CaError ? err.message : err instanceof Error ? err.message : String(err);
    process.stderr.write(`mtls-ca: ${message}\n`);
    process.exit(1);
  },
);
