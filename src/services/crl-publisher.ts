import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { CertificateAuthority } from '../ca/certificate-authority';
import type { Clock } from '../domain/clock';
import { assembleCrl, tbsCertListParts, type CrlParams } from '../domain/crl-builder';
import { baseFrom, buildIssuerCrl, crlParamsOf, type CrlBase } from './crl-build';
import { encodePem } from '../domain/pem';
import type { CrlBuildContext, CrlHead } from '../store/crl-repository';

/** The narrow part of the ledger the publisher needs. */
export interface CrlStore {
  head(issuerKeyId: string): Promise<CrlHead | null>;
  currentNumber(issuerKeyId: string): Promise<bigint | null>;
  revocationsAfter(seq: bigint): Promise<bigint>;
  baseDer(issuerKeyId: string): Promise<Buffer | null>;
  entriesBetween(issuerKeyId: string, after: bigint, upTo: bigint): Promise<{ der: Buffer; count: number }>;
  build<T>(issuerKeyId: string, fn: (ctx: CrlBuildContext) => Promise<T>): Promise<T>;
}

/** Told of each CRL build (metrics); must not throw. */
export interface CrlBuildObserver {
  crlBuilt(seconds: number, full: boolean): void;
  crlBuildFailed(): void;
}

export interface CrlPublisherParams {
  /** nextUpdate - thisUpdate. */
  readonly validityMs: number;
  /** Rebuild from scratch when the last full build is this old, even if nothing changed (well before nextUpdate). */
  readonly refreshMs: number;
  /** How often to look for a newer CRL built by another replica, and whether a refresh is due. */
  readonly pollMs: number;
  /** Revokes within this window are coalesced into one build. */
  readonly debounceMs: number;
}

export interface PublishedCrl {
  readonly der: Buffer;
  /** PEM form, encoded on first use. */
  readonly pem: string;
  /** The PEM form as bytes, ready to send. */
  readonly pemBytes: Buffer;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: number;
  readonly etag: string;
  /** ETag of the PEM form. */
  readonly pemEtag: string;
  /** thisUpdate and nextUpdate as HTTP dates. */
  readonly lastModified: string;
  readonly expires: string;
}


/**
 * The scheduler of one issuer's CRL (the build step itself is crl-build.ts): keeps the newest signed CRL in memory for serving; rebuilds it after revocations (coalesced) and
 * on a timer; shares it with every replica through the database.
 *
 * A full build reads every revoked, unexpired certificate and stores the signed DER as the base.
 * Between full builds, a revocation only appends: the new CRL is base entries + revocations since
 * the base (in revocation order), re-signed, and only its header fields and signature are stored.
 * Other replicas rebuild the same bytes from their copy of the base and check the signature.
 */
export class CrlPublisher {
  private published: PublishedCrl | null = null;
  /** When the published CRL's entry list was last read whole. */
  private fullBuildAt: Date | null = null;
  /** The newest revocation the published CRL reflects. */
  private publishedSeq = -1n;
  /** A stored CRL that did not rebuild to its signature: not loaded again. */
  private rejectedNumber: bigint | null = null;
  /** Since when the ledger has held a revocation newer than the published CRL (null: it has not). */
  private behindSince: number | null = null;
  private base: CrlBase | null = null;
  /** What the last poll saw: revocations committed after the published CRL's last one (`after`). */
  private polled: { after: bigint; count: bigint } | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private ticker: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private ticking = false;
  private stopped = false;

  constructor(
    private readonly deps: { ca: CertificateAuthority; store: CrlStore; clock: Clock; logger: Logger; params: CrlPublisherParams; observer?: CrlBuildObserver },
  ) {}

  current(): PublishedCrl | null {
    return this.published;
  }

  /**
   * Changes whenever a revocation commits anywhere, within a poll interval, even while no CRL can be
   * built: the published CRL's number and, as of the last poll, how many revocations came after the
   * last one it holds. Cached OCSP answers are keyed on it. null before the first poll.
   */
  revocationMark(): string | null {
    if (!this.polled) return null;
    return `${this.published?.crlNumber ?? '-'}:${this.polled.after}:${this.polled.count}`;
  }

  /** Loads the stored CRL (building one when there is none or it is due), then starts the timers. */
  async start(): Promise<void> {
    await this.loadStored();
    if (this.refreshDue()) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the first CRL could not be built within 60 s')), 60_000);
      });
      try {
        await Promise.race([this.rebuild(), timeout]);
      } catch (e) {
        this.stop();
        throw e;
      } finally {
        clearTimeout(timer);
      }
    }
    this.ticker = setInterval(() => void this.tick(), this.deps.params.pollMs);
    this.ticker.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.ticker, this.debounce, this.retry]) if (t) clearTimeout(t);
    this.ticker = this.debounce = this.retry = null;
  }

  /** Asks for a rebuild soon; bursts are coalesced. Resolves when a build that saw the request is published. */
  rebuild(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.debounce && !this.stopped) {
      this.debounce = setTimeout(() => {
        this.debounce = null;
        void this.runBuild();
      }, this.deps.params.debounceMs);
    }
    return done;
  }

  private async runBuild(): Promise<void> {
    if (this.running) {
      // A build is under way and may have missed the latest revocations: go again right after it.
      await this.running.catch(() => undefined);
      if ((this.running as Promise<void> | null) !== null) return; // another caller already started the next one
    }
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length === 0) return;
    this.running = this.buildOnce();
    try {
      await this.running;
      waiters.forEach((w) => w.resolve());
    } catch (err) {
      this.deps.logger.error({ err }, 'CRL build failed; retrying');
      this.deps.observer?.crlBuildFailed();
      // Keep the request alive: retry until the database is back.
      this.waiters.push(...waiters);
      if (!this.stopped && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = null;
          void this.runBuild();
        }, 1000);
        this.retry.unref();
      }
    } finally {
      this.running = null;
    }
    if (this.waiters.length > 0 && !this.retry && !this.debounce && !this.stopped) void this.runBuild();
  }

  private params(head: Pick<CrlHead, 'crlNumber' | 'thisUpdate' | 'nextUpdate'>, entries: Buffer): CrlParams {
    return crlParamsOf(this.deps.ca, head, entries);
  }

  private async buildOnce(): Promise<void> {
    const { ca, store, clock, logger, params } = this.deps;
    const started = process.hrtime.bigint();
    const result = await store.build(ca.keyId, (ctx) => buildIssuerCrl(ca, ctx, clock.now(), params, this.base));
    this.base = result.base;
    this.publish(result.head, result.der);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    this.deps.observer?.crlBuilt(ms / 1000, result.full);
    logger.info(
      { crlNumber: result.head.crlNumber.toString(), full: result.full, entries: result.head.entries, bytes: result.der.length, ms },
      'published a new CRL',
    );
  }

  private publish(head: Pick<CrlHead, 'crlNumber' | 'thisUpdate' | 'nextUpdate' | 'entries' | 'fullBuildAt' | 'lastRevocationSeq'>, der: Buffer): void {
    if (this.published && this.published.crlNumber >= head.crlNumber) return;
    this.fullBuildAt = head.fullBuildAt;
    this.publishedSeq = head.lastRevocationSeq;
    let pem: string | undefined;
    let pemBytes: Buffer | undefined;
    const tag = `${head.crlNumber.toString(16)}-${createHash('sha256').update(der).digest('base64url').slice(0, 16)}`;
    this.published = {
      der,
      get pem() {
        return (pem ??= encodePem('X509 CRL', der));
      },
      get pemBytes() {
        return (pemBytes ??= Buffer.from(this.pem, 'latin1'));
      },
      crlNumber: head.crlNumber,
      thisUpdate: head.thisUpdate,
      nextUpdate: head.nextUpdate,
      entries: head.entries,
      etag: `"${tag}"`,
      pemEtag: `"${tag}-pem"`,
      lastModified: head.thisUpdate.toUTCString(),
      expires: head.nextUpdate.toUTCString(),
    };
  }

  /** Rebuilds the newest stored CRL from the base and the revocations since, and serves it if its signature holds. */
  private async loadStored(): Promise<void> {
    const { ca, store } = this.deps;
    const head = await store.head(ca.keyId);
    if (!head || (this.published && this.published.crlNumber >= head.crlNumber) || head.crlNumber === this.rejectedNumber) return;
    if (!this.base || this.base.crlNumber !== head.baseCrlNumber) this.base = baseFrom(await store.baseDer(ca.keyId), head);
    const added = head.lastRevocationSeq > this.base.lastRevocationSeq ? await store.entriesBetween(ca.keyId, this.base.lastRevocationSeq, head.lastRevocationSeq) : null;
    const entries = added && added.count > 0 ? Buffer.concat([this.base.entries, added.der]) : this.base.entries;
    const tbs = tbsCertListParts(this.params(head, entries));
    if (!ca.verifyTbsParts(tbs, head.signature)) {
      // Fail closed: keep serving the CRL we have, and build and sign a fresh one here.
      this.deps.logger.error({ crlNumber: head.crlNumber.toString() }, 'the stored CRL does not rebuild to its signature; not serving it');
      this.base = null;
      this.rejectedNumber = head.crlNumber;
      void this.rebuild().catch(() => undefined);
      return;
    }
    this.publish(head, assembleCrl(tbs, ca.signatureAlgorithmDer, head.signature));
  }

  private refreshDue(): boolean {
    if (!this.published || !this.fullBuildAt) return true;
    return this.deps.clock.now().getTime() - this.fullBuildAt.getTime() >= this.deps.params.refreshMs;
  }

  /** Periodic: pick up a newer CRL from another replica; rebuild when the current one is due. */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const number = await this.deps.store.currentNumber(this.deps.ca.keyId);
      if (number !== null && (!this.published || number > this.published.crlNumber) && !this.running) await this.loadStored();
      // A revocation whose rebuild request was lost (its process died, or its answer did) still gets
      // built: when the ledger has been ahead of the published CRL for two seconds, build here.
      const after = this.publishedSeq;
      this.polled = { after, count: await this.deps.store.revocationsAfter(after) };
      const behind = this.polled.count > 0n;
      this.behindSince = behind ? (this.behindSince ?? Date.now()) : null;
      const missed = this.behindSince !== null && Date.now() - this.behindSince >= 2000;
      if ((missed || this.refreshDue()) && !this.running && this.waiters.length === 0) void this.rebuild().catch(() => undefined);
    } catch (err) {
      this.deps.logger.debug({ err }, 'CRL poll failed');
    } finally {
      this.ticking = false;
    }
  }
}
