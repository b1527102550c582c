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
          'DATABASE_URL',
          'API_TOKEN_PEPPER',
          'MTLS_CA_BOOTSTRAP_APP_TOKEN',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A connection URL with its password masked, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}
