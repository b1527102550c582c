import type { X509Certificate as NodeCertificate } from 'node:crypto';
import { CRLDistributionPointsExtension, X509Certificate, X509Crl } from '@peculiar/x509';
import type { Logger } from 'pino';
import { normalizeSerialNumber } from '../domain/serial-number';
import type { OutboundConnector } from '../outbound/connector';

const MAX_CRL_BYTES = 4 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
/** Distribution points remembered per partner CA, and in all (a partner CA names them in the certificates it signs). */
const MAX_URLS_PER_ANCHOR = 8;
const MAX_ENTRIES = 512;

interface Entry {
  revoked: Set<string> | null;
  /** When the CRL held was fetched (and verified): only a success moves it. */
  fetchedAt: number;
  /** When the last fetch was tried, successful or not: schedules the next one. */
  attemptedAt: number;
  thisUpdate: number;
  nextUpdate: number;
  inflight: boolean;
}

export type PartnerCrlStatus = 'good' | 'revoked' | 'unknown';

/** The HTTP CRL distribution point a partner certificate names, if any. */
export function httpCrlUrl(peer: NodeCertificate): string | null {
  const ext = new X509Certificate(new Uint8Array(peer.raw)).getExtension(CRLDistributionPointsExtension);
  for (const dp of ext?.distributionPoints ?? []) {
    for (const name of dp.distributionPoint?.fullName ?? []) {
      const uri = name.uniformResourceIdentifier;
      if (uri && /^http:\/\//i.test(uri)) return uri;
    }
  }
  return null;
}

/** A partner's serial as the CRL comparison needs it (the canonical form; odd ones kept as upper-case hex). */
function serialKey(hex: string): string {
  try {
    return normalizeSerialNumber(hex);
  } catch {
    return hex.toUpperCase();
  }
}

/**
 * Partner CAs' own CRLs, fetched on first use and then every `refreshMs`, accepted only when signed by
 * the anchor, not older than the one already held, and not past their nextUpdate. The URL comes from a
 * certificate the partner signed, so it is fetched through the outbound connector: the host's address is
 * checked (no loopback, private, link-local/metadata… unless GATEWAY_PARTNER_CRL_ALLOWED_NETWORKS allows
 * it), no redirect is followed, and the body is read only up to 4 MiB. At most 8 distribution points per
 * partner CA are followed (a partner cannot make the gateway fetch a new URL per certificate).
 * `unknown` until one was fetched, or once the last one is past its nextUpdate and older than
 * `maxStaleMs`: the gateway then applies GATEWAY_FAIL_OPEN.
 */
export class PartnerCrlCache {
  private readonly entries = new Map<string, Entry>();
  private readonly urlsPerAnchor = new Map<string, Set<string>>();

  constructor(
    private readonly refreshMs: number,
    private readonly maxStaleMs: number,
    private readonly connector: OutboundConnector,
    private readonly logger: Logger,
  ) {}

  status(url: string, anchor: NodeCertificate, serialHex: string, now = Date.now()): { status: PartnerCrlStatus; known: boolean } {
    const entry = this.entryFor(url, anchor);
    if (!entry) return { status: 'unknown', known: false };
    if (!entry.inflight && now - entry.attemptedAt >= this.refreshMs) void this.fetch(url, anchor, entry);
    const usable = entry.revoked !== null && (now <= entry.nextUpdate || now - entry.fetchedAt <= this.maxStaleMs);
    if (entry.revoked?.has(serialKey(serialHex))) return { status: 'revoked', known: true };
    return { status: usable ? 'good' : 'unknown', known: entry.revoked !== null };
  }

  private entryFor(url: string, anchor: NodeCertificate): Entry | null {
    const key = `${url} ${anchor.fingerprint256}`;
    const found = this.entries.get(key);
    if (found) return found;
    const urls = this.urlsPerAnchor.get(anchor.fingerprint256) ?? new Set<string>();
    if (urls.size >= MAX_URLS_PER_ANCHOR) {
      this.logger.warn({ url, anchor: anchor.subject }, 'partner CA names more CRL distribution points than the gateway follows; revocation status unknown');
      return null;
    }
    if (this.entries.size >= MAX_ENTRIES) {
      const [oldest] = this.entries.keys();
      this.entries.delete(oldest);
      const [oldUrl, oldAnchor] = [oldest.slice(0, oldest.lastIndexOf(' ')), oldest.slice(oldest.lastIndexOf(' ') + 1)];
      this.urlsPerAnchor.get(oldAnchor)?.delete(oldUrl);
    }
    urls.add(url);
    this.urlsPerAnchor.set(anchor.fingerprint256, urls);
    const entry: Entry = { revoked: null, fetchedAt: 0, attemptedAt: 0, thisUpdate: 0, nextUpdate: 0, inflight: false };
    this.entries.set(key, entry);
    return entry;
  }

  private async fetch(url: string, anchor: NodeCertificate, entry: Entry): Promise<void> {
    entry.inflight = true;
    try {
      const body = await this.download(url);
      const text = body.toString('latin1');
      const crl = new X509Crl(text.includes('-----BEGIN') ? text : new Uint8Array(body));
      const ca = new X509Certificate(new Uint8Array(anchor.raw));
      // The CRL must be the anchor's own (its issuer name, byte for byte), not another CA's under the same key.
      if (!Buffer.from(crl.issuerName.toArrayBuffer()).equals(Buffer.from(ca.subjectName.toArrayBuffer()))) throw new Error("CRL issuer is not the partner CA's name");
      if (!(await crl.verify({ publicKey: ca.publicKey }))) throw new Error('CRL signature does not verify with the partner CA');
      const now = Date.now();
      const thisUpdate = crl.thisUpdate.getTime();
      const nextUpdate = crl.nextUpdate?.getTime();
      // A signed but older CRL (replayed over plain HTTP) would un-revoke certificates: keep the newer one.
      if (thisUpdate < entry.thisUpdate) throw new Error('CRL is older than the one already held (thisUpdate went back)');
      if (nextUpdate !== undefined && nextUpdate < now) throw new Error('CRL is past its nextUpdate');
      entry.revoked = new Set((crl.entries ?? []).map((e) => serialKey(e.serialNumber)));
      entry.fetchedAt = now;
      entry.attemptedAt = now;
      entry.thisUpdate = thisUpdate;
      entry.nextUpdate = nextUpdate ?? now + this.maxStaleMs;
    } catch (err) {
      this.logger.warn({ url, err: err instanceof Error ? err.message : String(err) }, 'partner CRL not fetched');
      // Retry sooner than a full period; the CRL held keeps its age (a failure must not make it look fresh).
      entry.attemptedAt = Date.now() - this.refreshMs / 2;
    } finally {
      entry.inflight = false;
    }
  }

  /** GET `url` through the connector, reading at most MAX_CRL_BYTES of the body. */
  private async download(url: string): Promise<Buffer> {
    const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
    const res = await this.connector.request({ url, method: 'GET', signal });
    // Destroying an unread undici body emits 'error' (RequestAbortedError): unheard, it would end the gateway
    // process. Whatever goes wrong here is already reported by the throw below.
    res.body.on('error', () => undefined);
    try {
      if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
      if (Number(res.headers['content-length'] ?? 0) > MAX_CRL_BYTES) throw new Error('CRL too large');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_CRL_BYTES) throw new Error('CRL too large');
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    } finally {
      res.body.destroy();
    }
  }
}
