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
 * The gateway's view of revocation: each trusted issuer's current CRL (mtls-ca's /crls.pem holds them all
 * after a rotation; /crl.pem from a server without issuers), fetched from mtls-ca and refreshed every few
 * seconds (conditional on the ETag). Only a CRL signed by the trusted issuing CA and newer than the
 * one held (a higher CRL number) replaces it, so a replayed older CRL cannot un-revoke anything. When
 * the CA cannot be reached the last CRL stays in force until its nextUpdate; after that `fresh()` is
 * false and the gateway fails closed unless told otherwise.
 */
export class RevocationCache {
  /** Per issuer (index in `issuers`). */
  private readonly heldBy = new Map<number, HeldCrl>();
  private etag: string | null = null;
  private path = '/crls.pem';
  private timer: NodeJS.Timeout | null = null;
  private readonly issuers: ReadonlyArray<{ raw: Buffer; key: X509Certificate['publicKey'] }>;

  constructor(
    private readonly caUrl: string,
    issuers: NodeCertificate | readonly NodeCertificate[],
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {
    this.issuers = (Array.isArray(issuers) ? issuers : [issuers]).map((i: NodeCertificate) => ({ raw: i.raw, key: new X509Certificate(i.raw).publicKey }));
  }

  /** The CRL held for the issuer of the certificate being checked (the first issuer when not said). */
  private heldFor(issuer?: NodeCertificate): HeldCrl | null {
    const index = issuer ? this.issuers.findIndex((i) => i.raw.equals(issuer.raw)) : 0;
    return this.heldBy.get(index) ?? null;
  }

  private get held(): HeldCrl | null {
    return this.heldBy.get(0) ?? this.heldBy.values().next().value ?? null;
  }

  async start(): Promise<void> {
    await this.refresh();
    if (this.heldBy.size === 0) throw new Error(`no CRL signed by the CA could be fetched from ${this.caUrl}`);
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** True while a CRL of `issuer` (of the first issuer when not said) before its nextUpdate is held. */
  fresh(now = Date.now(), issuer?: NodeCertificate): boolean {
    const held = this.heldFor(issuer);
    return held !== null && now < held.nextUpdate;
  }

  isRevoked(serialHex: string, issuer?: NodeCertificate): boolean {
    return this.heldFor(issuer)?.revoked.has(canonicalSerial(serialHex)) ?? false;
  }

  async refresh(): Promise<void> {
    try {
      let res = await fetch(new URL(this.path, this.caUrl), { headers: this.etag ? { 'If-None-Match': this.etag } : {} });
      if (res.status === 404 && this.path === '/crls.pem') {
        // A CA without issuers (or another server): its one CRL.
        this.path = '/crl.pem';
        res = await fetch(new URL(this.path, this.caUrl));
      }
      if (res.status === 304) return;
      if (!res.ok) throw new Error(`GET ${this.path} answered ${res.status}`);
      const text = await res.text();
      const blocks = text.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [text];
      const verdicts = [];
      for (const block of blocks) verdicts.push(await this.consider(new X509Crl(block)));
      if (verdicts.every((v) => v === 'accepted' || v === 'unchanged')) this.etag = res.headers.get('etag');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, nextUpdate: new Date(this.held?.nextUpdate ?? 0).toISOString() }, 'CRL refresh failed; keeping the last CRL');
    }
  }

  /** Takes `crl` if it is signed by the CA and newer than the one held; says why not otherwise. */
  async consider(crl: X509Crl): Promise<CrlVerdict> {
    const { verdict, index } = await this.judge(crl);
    if (verdict === 'accepted') {
      this.heldBy.set(index, {
        der: Buffer.from(crl.rawData),
        number: crlNumberOf(crl)!,
        revoked: new Set(crl.entries.map((e) => canonicalSerial(e.serialNumber))),
        nextUpdate: crl.nextUpdate?.getTime() ?? 0,
      });
      this.logger.debug({ issuer: index, crlNumber: String(crlNumberOf(crl)), entries: crl.entries.length }, 'gateway CRL refreshed');
    } else if (verdict !== 'unchanged') {
      this.logger.warn({ verdict, fetched: String(crlNumberOf(crl) ?? 'none'), held: String(this.heldBy.get(index)?.number ?? 'none') }, 'refused a fetched CRL; keeping the one held');
    }
    return verdict;
  }

  /** Which trusted issuer signed `crl`, and whether its CRL replaces the one held for that issuer. */
  private async judge(crl: X509Crl): Promise<{ verdict: CrlVerdict; index: number }> {
    let index = -1;
    for (let i = 0; i < this.issuers.length && index < 0; i++) if (await crl.verify({ publicKey: this.issuers[i].key })) index = i;
    if (index < 0) return { verdict: 'bad-signature', index };
    const held = this.heldBy.get(index);
    const number = crlNumberOf(crl);
    if (number === null) return { verdict: 'no-crl-number', index };
    if (!held || number > held.number) return { verdict: 'accepted', index };
    if (number < held.number) return { verdict: 'older', index };
    return { verdict: held.der.equals(Buffer.from(crl.rawData)) ? 'unchanged' : 'same-number-different-content', index };
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
