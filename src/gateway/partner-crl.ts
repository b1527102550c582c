import type { X509Certificate as NodeCertificate } from 'node:crypto';
import { CRLDistributionPointsExtension, X509Certificate, X509Crl } from '@peculiar/x509';
import type { Logger } from 'pino';

const MAX_CRL_BYTES = 4 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 5_000;

interface Entry {
  revoked: Set<string> | null;
  fetchedAt: number;
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

/**
 * Partner CAs' own CRLs, fetched on first use and then every `refreshMs` (size and time bounded),
 * accepted only when signed by the anchor. `unknown` until one was fetched, or once the last one is past
 * its nextUpdate and older than `maxStaleMs`: the gateway then applies GATEWAY_FAIL_OPEN.
 */
export class PartnerCrlCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly refreshMs: number,
    private readonly maxStaleMs: number,
    private readonly logger: Logger,
  ) {}

  status(url: string, anchor: NodeCertificate, serialHex: string, now = Date.now()): { status: PartnerCrlStatus; known: boolean } {
    let entry = this.entries.get(`${url} ${anchor.fingerprint256}`);
    if (!entry) {
      entry = { revoked: null, fetchedAt: 0, nextUpdate: 0, inflight: false };
      this.entries.set(`${url} ${anchor.fingerprint256}`, entry);
    }
    if (!entry.inflight && now - entry.fetchedAt >= this.refreshMs) void this.fetch(url, anchor, entry);
    const usable = entry.revoked !== null && (now <= entry.nextUpdate || now - entry.fetchedAt <= this.maxStaleMs);
    if (entry.revoked?.has(serialHex.toUpperCase().replace(/^0+/, ''))) return { status: 'revoked', known: true };
    return { status: usable ? 'good' : 'unknown', known: entry.revoked !== null };
  }

  private async fetch(url: string, anchor: NodeCertificate, entry: Entry): Promise<void> {
    entry.inflight = true;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
      if (res.status !== 200) throw new Error(`answered ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > MAX_CRL_BYTES) throw new Error('CRL too large');
      const body = Buffer.from(await res.arrayBuffer());
      if (body.length > MAX_CRL_BYTES) throw new Error('CRL too large');
      const text = body.toString('latin1');
      const crl = new X509Crl(text.includes('-----BEGIN') ? text : new Uint8Array(body));
      const key = new X509Certificate(new Uint8Array(anchor.raw)).publicKey;
      if (!(await crl.verify({ publicKey: key }))) throw new Error('CRL signature does not verify with the partner CA');
      entry.revoked = new Set((crl.entries ?? []).map((e) => e.serialNumber.toUpperCase().replace(/^0+/, '')));
      entry.fetchedAt = Date.now();
      entry.nextUpdate = crl.nextUpdate?.getTime() ?? entry.fetchedAt + this.maxStaleMs;
    } catch (err) {
      this.logger.warn({ url, err: err instanceof Error ? err.message : String(err) }, 'partner CRL not fetched');
      entry.fetchedAt = Date.now() - this.refreshMs / 2; // retry sooner than a full period
    } finally {
      entry.inflight = false;
    }
  }
}
