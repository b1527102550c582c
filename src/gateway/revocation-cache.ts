import { X509Crl } from '@peculiar/x509';
import type { Logger } from 'pino';

/**
 * The gateway's view of the CA: its certificate chain and the current CRL, fetched from mtls-ca and
 * refreshed every few seconds (conditional on the ETag). When the CA cannot be reached the last CRL
 * stays in force until its nextUpdate; after that the gateway fails closed unless told otherwise.
 */
export class RevocationCache {
  caPem = '';
  crlPem = '';
  private revoked = new Set<string>();
  private nextUpdate = 0;
  private etag: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly caUrl: string,
    private readonly refreshMs: number,
    private readonly logger: Logger,
    private readonly onChange: () => void,
  ) {}

  async start(): Promise<void> {
    const ca = await fetch(new URL('/ca.pem', this.caUrl));
    if (!ca.ok) throw new Error(`GET ${this.caUrl}/ca.pem answered ${ca.status}`);
    this.caPem = await ca.text();
    await this.refresh();
    if (!this.crlPem) throw new Error(`no CRL could be fetched from ${this.caUrl}`);
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** True while a CRL before its nextUpdate is held. */
  fresh(now = Date.now()): boolean {
    return this.crlPem !== '' && now < this.nextUpdate;
  }

  isRevoked(serialHex: string): boolean {
    return this.revoked.has(serialHex.toUpperCase().replace(/^(00)+(?=[0-7])/, ''));
  }

  async refresh(): Promise<void> {
    try {
      const res = await fetch(new URL('/crl.pem', this.caUrl), { headers: this.etag ? { 'If-None-Match': this.etag } : {} });
      if (res.status === 304) return;
      if (!res.ok) throw new Error(`GET /crl.pem answered ${res.status}`);
      const pem = await res.text();
      const crl = new X509Crl(pem);
      // Only a CRL signed by the CA we trust replaces the one we hold.
      const caCert = new (await import('@peculiar/x509')).X509Certificate(this.caPem);
      if (!(await crl.verify({ publicKey: caCert.publicKey }))) throw new Error('the fetched CRL is not signed by the CA');
      this.revoked = new Set(crl.entries.map((e) => e.serialNumber.toUpperCase()));
      this.nextUpdate = crl.nextUpdate?.getTime() ?? 0;
      this.crlPem = pem;
      this.etag = res.headers.get('etag');
      this.onChange();
      this.logger.debug({ entries: this.revoked.size }, 'gateway CRL refreshed');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, nextUpdate: new Date(this.nextUpdate || 0).toISOString() }, 'CRL refresh failed; keeping the last CRL');
    }
  }
}
