import type { X509Certificate as NodeCertificate } from 'node:crypto';
import { X509Certificate, X509Crl } from '@peculiar/x509';
import type { Logger } from 'pino';
import { content, readTlv } from '../domain/der';
import { OID } from '../domain/oids';
import { normalizeSerialNumber } from '../domain/serial-number';

interface HeldCrl {
  readonly der: Buffer;
  readonly number: bigint;
  readonly revoked: ReadonlySet<string>;
  readonly nextUpdate: number;
}

/** What became of a fetched CRL. */
export type CrlVerdict = 'accepted' | 'unchanged' | 'older' | 'same-number-different-content' | 'no-crl-number' | 'bad-signature';

/**
 * The gateway's view of revocation: the CA's current CRL, fetched from mtls-ca and refreshed every few
 * seconds (conditional on the ETag). Only a CRL signed by the trusted issuing CA and newer than the
 * one held (a higher CRL number) replaces it, so a replayed older CRL cannot un-revoke anything. When
 * the CA cannot be reached the last CRL stays in force until its nextUpdate; after that `fresh()` is
 * false and the gateway fails closed unless told otherwise.
 */
export class RevocationCache {
  private held: HeldCrl | null = null;
  private etag: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly issuerKey: X509Certificate['publicKey'];

  constructor(
    private readonly caUrl: string,
    issuer: NodeCertificate,
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {
    this.issuerKey = new X509Certificate(issuer.raw).publicKey;
  }

  async start(): Promise<void> {
    await this.refresh();
    if (!this.held) throw new Error(`no CRL signed by the CA could be fetched from ${this.caUrl}`);
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** True while a CRL before its nextUpdate is held. */
  fresh(now = Date.now()): boolean {
    return this.held !== null && now < this.held.nextUpdate;
  }

  isRevoked(serialHex: string): boolean {
    return this.held?.revoked.has(canonicalSerial(serialHex)) ?? false;
  }

  async refresh(): Promise<void> {
    try {
      const res = await fetch(new URL('/crl.pem', this.caUrl), { headers: this.etag ? { 'If-None-Match': this.etag } : {} });
      if (res.status === 304) return;
      if (!res.ok) throw new Error(`GET /crl.pem answered ${res.status}`);
      const verdict = await this.consider(new X509Crl(await res.text()));
      if (verdict === 'accepted' || verdict === 'unchanged') this.etag = res.headers.get('etag');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, nextUpdate: new Date(this.held?.nextUpdate ?? 0).toISOString() }, 'CRL refresh failed; keeping the last CRL');
    }
  }

  /** Takes `crl` if it is signed by the CA and newer than the one held; says why not otherwise. */
  async consider(crl: X509Crl): Promise<CrlVerdict> {
    const verdict = await this.judge(crl);
    if (verdict === 'accepted') {
      this.held = {
        der: Buffer.from(crl.rawData),
        number: crlNumberOf(crl)!,
        revoked: new Set(crl.entries.map((e) => canonicalSerial(e.serialNumber))),
        nextUpdate: crl.nextUpdate?.getTime() ?? 0,
      };
      this.logger.debug({ crlNumber: String(this.held.number), entries: this.held.revoked.size }, 'gateway CRL refreshed');
    } else if (verdict !== 'unchanged') {
      this.logger.warn({ verdict, fetched: String(crlNumberOf(crl) ?? 'none'), held: String(this.held?.number ?? 'none') }, 'refused a fetched CRL; keeping the one held');
    }
    return verdict;
  }

  private async judge(crl: X509Crl): Promise<CrlVerdict> {
    if (!(await crl.verify({ publicKey: this.issuerKey }))) return 'bad-signature';
    const number = crlNumberOf(crl);
    if (number === null) return 'no-crl-number';
    if (!this.held || number > this.held.number) return 'accepted';
    if (number < this.held.number) return 'older';
    return this.held.der.equals(Buffer.from(crl.rawData)) ? 'unchanged' : 'same-number-different-content';
  }
}

/** The CRL number extension's INTEGER; null when absent or not a non-negative INTEGER. */
function crlNumberOf(crl: X509Crl): bigint | null {
  const ext = crl.getExtension(OID.crlNumber);
  if (!ext) return null;
  const der = Buffer.from(ext.value);
  const tlv = readTlv(der, 0);
  const bytes = content(der, tlv);
  if (tlv.tag !== 0x02 || tlv.end !== der.length || bytes.length === 0 || bytes[0] & 0x80) return null;
  return BigInt(`0x${bytes.toString('hex')}`);
}

function canonicalSerial(hex: string): string {
  try {
    return normalizeSerialNumber(hex);
  } catch {
    return hex.toUpperCase();
  }
}
