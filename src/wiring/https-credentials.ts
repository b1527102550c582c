import type { Config } from '../config';
import { readTlsFiles, ServerTls, serverNames, type ServerTlsDeps, type TlsCredentials } from '../services/server-tls';

/** What the HTTPS server listens with, and how it learns of a replacement. */
export interface HttpsCredentials {
  readonly credentials: TlsCredentials;
  onChange(listener: (credentials: TlsCredentials) => void): void;
  /** The serial of the self-issued server certificate in use (null with TLS_CERT_FILE). */
  readonly serialNumber: string | null;
}

/**
 * HTTPS_PORT's key and certificate: TLS_CERT_FILE/TLS_KEY_FILE when given, else a server certificate
 * from the service's own CA, renewed in place. `tls` is null without HTTPS_PORT.
 */
export async function startHttpsCredentials(
  config: Config,
  deps: Omit<ServerTlsDeps, 'names' | 'validityMs'>,
): Promise<{ tls: HttpsCredentials | null; stop(): void }> {
  if (config.HTTPS_PORT === undefined) return { tls: null, stop: () => undefined };
  if (config.TLS_CERT_FILE && config.TLS_KEY_FILE) {
    const credentials = await readTlsFiles(config.TLS_CERT_FILE, config.TLS_KEY_FILE);
    return { tls: { credentials, onChange: () => undefined, serialNumber: null }, stop: () => undefined };
  }
  const own = new ServerTls({
    ...deps,
    names: serverNames(config.PUBLIC_BASE_URL, config.TLS_SERVER_NAMES),
    validityMs: config.TLS_SERVER_CERT_VALIDITY,
  });
  await own.start();
  return {
    tls: {
      get credentials() {
        return own.credentials;
      },
      onChange: (listener) => own.onChange(listener),
      get serialNumber() {
        return own.serialNumber;
      },
    },
    stop: () => own.stop(),
  };
}
