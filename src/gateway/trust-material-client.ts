import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';

/** The partners' trust material as the gateway holds it (from GET /gateway/trust-material of the CA). */
export interface PartnerTrustSnapshot {
  readonly version: string;
  readonly anchors: readonly { readonly account: string; readonly certificate: X509Certificate }[];
  /** Registered client certificates by the SHA-256 of their DER (hex). */
  readonly registered: ReadonlyMap<string, { readonly account: string; readonly notBefore: Date; readonly notAfter: Date }>;
}

interface MaterialBody {
  version: string;
  anchors: { account: string; certificate: string }[];
  clientCertificates: { account: string; sha256: string; notBefore: string; notAfter: string }[];
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * Fetches the trust material with the gateway's own API key every `refreshMs`, with If-None-Match. Keeps
 * the last good snapshot; `fresh()` is false once no fetch has succeeded for `maxStaleMs` (fail closed).
 */
export class TrustMaterialClient {
  private snapshot: PartnerTrustSnapshot | null = null;
  private etag: string | null = null;
  private lastSuccess = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly caUrl: string,
    private readonly credentials: { readonly appKey: string; readonly appToken: string },
    private readonly refreshMs: number,
    private readonly maxStaleMs: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  current(): PartnerTrustSnapshot | null {
    return this.snapshot;
  }

  fresh(now = Date.now()): boolean {
    return this.snapshot !== null && now - this.lastSuccess <= this.maxStaleMs;
  }

  async refresh(): Promise<void> {
    try {
      const res = await fetch(new URL('/gateway/trust-material', this.caUrl), {
        headers: { 'x-api-appkey': this.credentials.appKey, 'x-api-apptoken': this.credentials.appToken, ...(this.etag ? { 'if-none-match': this.etag } : {}) },
        signal: AbortSignal.timeout(Math.max(1000, Math.min(this.refreshMs, 10_000))),
        redirect: 'error',
      });
      if (res.status === 304 && this.snapshot) {
        this.lastSuccess = Date.now();
        return;
      }
      if (res.status !== 200) throw new Error(`the CA answered ${res.status}`);
      const text = await res.text();
      if (text.length > MAX_BODY_BYTES) throw new Error('trust material too large');
      this.snapshot = parse(JSON.parse(text) as MaterialBody);
      this.etag = res.headers.get('etag');
      this.lastSuccess = Date.now();
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'partner trust material not refreshed');
    }
  }
}

function parse(body: MaterialBody): PartnerTrustSnapshot {
  const anchors = body.anchors.map((a) => ({ account: a.account, certificate: new X509Certificate(a.certificate) }));
  const registered = new Map(
    body.clientCertificates.map((c) => [c.sha256.toLowerCase(), { account: c.account, notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter) }] as const),
  );
  return { version: body.version, anchors, registered };
}
