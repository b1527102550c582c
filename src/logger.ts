import pino, { type Logger } from 'pino';

/** Structured JSON logs; credentials are redacted wherever they appear in a logged object. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'mtls-ca' },
      redact: {
        paths: [
          'appToken',
          '*.appToken',
          'headers["x-api-apptoken"]',
          'headers["x-vtex-api-apptoken"]',
          '*.headers["x-api-apptoken"]',
          'passphrase',
          '*.passphrase',
          'CA_KEY_PASSPHRASE',
          'CA_KEY_PKCS11_PIN',
          'CA_KEY_PKCS11_URI', // may carry pin-value
          'pin',
          '*.pin',
          'DATABASE_URL',
          'API_TOKEN_PEPPER',
          'MTLS_CA_MASTER_KEY',
          'MTLS_CA_NEW_MASTER_KEY',
          'MTLS_CA_BOOTSTRAP_APP_TOKEN',
          'METRICS_TOKEN',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A connection URL reduced to what is safe to log: scheme, host, port and database (no user, password or query). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '[unparsable url]';
  }
}
