import type { Logger } from 'pino';
import type { CaCustody } from './ca-custody';

const ORIGIN_MESSAGES: Record<CaCustody['origin'], string> = {
  generated: 'generated a new root CA',
  ledger: 'loaded the CA key from the ledger',
  'configured-files': 'loaded the CA from CA_CERT_FILE/CA_KEY_FILE',
  'data-dir-files': 'loaded the CA from the data directory',
};

/** Says where the CA and the pepper came from, and warns loudly about keys kept in files. */
export function logCustody(custody: CaCustody, ledgerKind: 'postgres' | 'pglite', logger: Logger): void {
  const { ca, identity } = custody;
  logger.info(
    { origin: custody.origin, backend: identity.backend, pin: custody.pin, subject: ca.certificate.subject, keyId: ca.keyId, spkiSha256: identity.spkiSha256, notAfter: ca.notAfter },
    ORIGIN_MESSAGES[custody.origin],
  );
  if (custody.pin === 'pinned') logger.info({ spkiSha256: identity.spkiSha256, backend: identity.backend }, 'pinned the CA identity in the ledger');
  if (custody.wrappedKeyNow && custody.origin !== 'generated') {
    logger.warn(
      { from: custody.keyFile?.path, keyVersion: custody.vault?.keyVersion },
      'wrapped the CA key into the ledger with MTLS_CA_MASTER_KEY: from now on no replica needs the CA files (remove the clear key file once every replica has the master key)',
    );
  }
  if (custody.pepper.wrapped && custody.pepper.source !== 'generated') {
    logger.warn({ from: custody.pepper.source }, 'wrapped the API-token pepper into the ledger with MTLS_CA_MASTER_KEY; API_TOKEN_PEPPER and the token-pepper file are no longer needed');
  }
  if (identity.backend !== 'file') return;
  logger.warn(
    { keyPath: custody.keyFile?.path, database: ledgerKind },
    ledgerKind === 'postgres'
      ? 'THE CA KEY AND THE TOKEN PEPPER ARE KEPT IN THIS REPLICA\'S FILES: another replica cannot start without copies. Set MTLS_CA_MASTER_KEY to keep them wrapped in the ledger'
      : 'THE CA KEY AND THE TOKEN PEPPER ARE KEPT IN FILES IN THE DATA DIRECTORY: set MTLS_CA_MASTER_KEY to keep them wrapped in the ledger instead',
  );
  if (!custody.keyFile?.encrypted) {
    logger.warn({ keyPath: custody.keyFile?.path }, 'THE CA PRIVATE KEY IS STORED UNENCRYPTED: set CA_KEY_PASSPHRASE (and re-create or encrypt the key) or MTLS_CA_MASTER_KEY for production');
  }
}
