import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import type { AuditRecord, UnsequencedEntry } from '../domain/audit-event';
import type { CertificateAuthority } from '../ca/certificate-authority';
import { issueServerCertificate, type ServerIdentity } from '../ca/server-certificate';
import type { IssuedCertificate } from '../domain/certificate';
import type { Clock } from '../domain/clock';
import type { SerialSource } from '../domain/serial-number';
import type { AuditTrail } from './audit-trail';

/** Key and certificate chain (PEM) for node:tls. */
export interface TlsCredentials {
  readonly key: string;
  readonly cert: string;
}

export interface ServerTlsDeps {
  readonly ca: CertificateAuthority;
  readonly ledger: { insert(cert: IssuedCertificate, audit: UnsequencedEntry): Promise<AuditRecord> };
  readonly audit: AuditTrail;
  readonly clock: Clock;
  readonly crypto: Crypto;
  readonly serials: SerialSource;
  readonly logger: Logger;
  /** DNS names and IP addresses of the certificate: the host of PUBLIC_BASE_URL, then TLS_SERVER_NAMES. */
  readonly names: readonly string[];
  readonly validityMs: number;
  /** How often to look whether the certificate is due (tests shorten it). */
  readonly checkIntervalMs?: number;
}

/**
 * The service's TLS server certificate for HTTPS_PORT: issued by its own CA at start (recorded in the
 * ledger under the reserved system account, like the delegated OCSP signer) and replaced at two thirds
 * of its life without a restart: `onChange` listeners (the HTTPS server's setSecureContext) get the new one.
 */
export class ServerTls {
  private identity: ServerIdentity | null = null;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private readonly listeners = new Set<(credentials: TlsCredentials) => void>();

  constructor(private readonly deps: ServerTlsDeps) {}

  get credentials(): TlsCredentials {
    if (!this.identity) throw new Error('ServerTls not started');
    return { key: this.identity.keyPem, cert: this.identity.certChainPem };
  }

  /** The serial of the certificate in use. */
  get serialNumber(): string | null {
    return this.identity?.record.serialNumber ?? null;
  }

  onChange(listener: (credentials: TlsCredentials) => void): void {
    this.listeners.add(listener);
  }

  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => void this.check(), this.deps.checkIntervalMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Whether two thirds of the current certificate's life have passed. */
  due(): boolean {
    const id = this.identity;
    if (!id) return true;
    const life = id.notAfter.getTime() - id.notBefore.getTime();
    return this.deps.clock.now().getTime() >= id.notBefore.getTime() + (2 * life) / 3;
  }

  private async check(): Promise<void> {
    if (!this.due() || this.renewing) return;
    this.renewing = this.renew()
      .catch((err) => this.deps.logger.warn({ err }, 'could not issue and record a new TLS server certificate; keeping the current one'))
      .finally(() => (this.renewing = null));
  }

  private async renew(): Promise<void> {
    const { ca, crypto, clock, serials, names, validityMs, audit, ledger, logger } = this.deps;
    const identity = await issueServerCertificate(ca, crypto, clock, serials, names, validityMs);
    const record = identity.record;
    await audit.record(
      {
        action: 'certificate.sign',
        outcome: 'success',
        account: record.account,
        serialNumber: record.serialNumber,
        details: { commonName: record.commonName, purpose: 'tls-server', names: names.join(',') },
      },
      (entry) => ledger.insert(record, entry),
    );
    this.identity = identity;
    logger.info({ serialNumber: record.serialNumber, names, notAfter: identity.notAfter }, 'issued a new TLS server certificate');
    for (const listener of this.listeners) listener(this.credentials);
  }
}

/** TLS_CERT_FILE and TLS_KEY_FILE: the operator's own server certificate (chain) and key, read once at start. */
export async function readTlsFiles(certFile: string, keyFile: string): Promise<TlsCredentials> {
  const [cert, key] = await Promise.all([fs.readFile(certFile, 'utf8'), fs.readFile(keyFile, 'utf8')]);
  return { cert, key };
}

/** The names of the self-issued server certificate: the host of PUBLIC_BASE_URL, then TLS_SERVER_NAMES, without repeats. */
export function serverNames(publicBaseUrl: string, extra: readonly string[]): string[] {
  const host = new URL(publicBaseUrl).hostname.replace(/^\[|\]$/g, '');
  return [...new Set([host, ...extra].filter(Boolean))];
}
