import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { CertificateAuthority } from '../domain/certificate-authority';
import type { Clock } from '../domain/clock';
import { buildCrl, crlEntries } from '../domain/crl-builder';
import { encodePem } from '../domain/pem';
import type { CrlBuildContext, StoredCrl } from '../store/crl-repository';

/** The narrow part of the ledger the publisher needs. */
export interface CrlStore {
  current(issuerKeyId: string): Promise<StoredCrl | null>;
  currentNumber(issuerKeyId: string): Promise<bigint | null>;
  build<T>(issuerKeyId: string, fn: (ctx: CrlBuildContext) => Promise<T>): Promise<T>;
}

export interface CrlPublisherParams {
  /** nextUpdate - thisUpdate. */
  readonly validityMs: number;
  /** Rebuild when the CRL is this old even if nothing changed (well before nextUpdate). */
  readonly refreshMs: number;
  /** How often to look for a newer CRL built by another replica, and whether a refresh is due. */
  readonly pollMs: number;
  /** Revokes within this window are coalesced into one build. */
  readonly debounceMs: number;
}

export interface PublishedCrl {
  readonly der: Buffer;
  readonly pem: string;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: number;
  readonly etag: string;
}

/**
 * Keeps the newest signed CRL in memory for serving, rebuilds it after revocations (coalesced) and
 * on a timer, stores it in the database for every replica, and picks up CRLs other replicas built.
 */
export class CrlPublisher {
  private published: PublishedCrl | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private ticker: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private ticking = false;
  private stopped = false;

  constructor(
    private readonly deps: { ca: CertificateAuthority; store: CrlStore; clock: Clock; logger: Logger; params: CrlPublisherParams },
  ) {}

  current(): PublishedCrl | null {
    return this.published;
  }

  /** Loads the stored CRL (building one when there is none or it is due), then starts the timers. */
  async start(): Promise<void> {
    await this.loadStored();
    if (this.refreshDue()) await this.rebuild();
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

  private async buildOnce(): Promise<void> {
    const { ca, store, clock, logger, params } = this.deps;
    const started = process.hrtime.bigint();
    const result = await store.build(ca.keyId, async (ctx) => {
      const now = clock.now();
      const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
      const nextUpdate = new Date(thisUpdate.getTime() + params.validityMs);
      const previous = ctx.previous;
      const crlNumber = (previous?.crlNumber ?? 0n) + 1n;
      const full = !previous || !previous.fullBuildAt || thisUpdate.getTime() - previous.fullBuildAt.getTime() >= params.refreshMs;
      let entries: Buffer;
      let count: number;
      let lastRevocationSeq: bigint;
      let fullBuildAt: Date;
      if (full) {
        // An expired certificate stays listed until one CRL issued after its expiry, then drops off.
        const cutoff = previous && previous.thisUpdate < thisUpdate ? previous.thisUpdate : thisUpdate;
        const all = await ctx.allEntries(cutoff);
        [entries, count, lastRevocationSeq, fullBuildAt] = [all.der, all.count, all.lastRevocationSeq, thisUpdate];
      } else {
        // Append the revocations made since the stored CRL to its entries, and sign again.
        const mine = this.published && this.published.crlNumber === previous.crlNumber ? this.published.der : null;
        const base = mine ?? (await ctx.previousDer());
        const added = await ctx.entriesSince(previous.lastRevocationSeq, thisUpdate);
        const kept = base ? crlEntries(base) : Buffer.alloc(0);
        entries = added.count > 0 ? Buffer.concat([kept, added.der]) : kept;
        [count, lastRevocationSeq, fullBuildAt] = [previous.entries + added.count, added.lastRevocationSeq, previous.fullBuildAt!];
      }
      const der = buildCrl(
        {
          issuerDer: ca.issuerDer,
          signatureAlgorithmDer: ca.signatureAlgorithmDer,
          authorityKeyId: ca.keyId,
          crlNumber,
          thisUpdate,
          nextUpdate,
          entries,
        },
        (tbs) => ca.signTbsParts(tbs),
      );
      const stored = { crlNumber, thisUpdate, nextUpdate, entries: count, der, lastRevocationSeq, fullBuildAt };
      await ctx.save(stored);
      return { ...stored, full };
    });
    this.publish({ ...result, issuerKeyId: ca.keyId });
    logger.info(
      { crlNumber: result.crlNumber.toString(), full: result.full, entries: result.entries, bytes: result.der.length, ms: Number(process.hrtime.bigint() - started) / 1e6 },
      'published a new CRL',
    );
  }

  private publish(crl: StoredCrl): void {
    if (this.published && this.published.crlNumber >= crl.crlNumber) return;
    this.published = {
      der: crl.der,
      pem: encodePem('X509 CRL', crl.der),
      crlNumber: crl.crlNumber,
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      entries: crl.entries,
      etag: `"${crl.crlNumber.toString(16)}-${createHash('sha256').update(crl.der).digest('base64url').slice(0, 16)}"`,
    };
  }

  private async loadStored(): Promise<void> {
    const stored = await this.deps.store.current(this.deps.ca.keyId);
    if (stored) this.publish(stored);
  }

  private refreshDue(): boolean {
    const p = this.published;
    if (!p) return true;
    return this.deps.clock.now().getTime() - p.thisUpdate.getTime() >= this.deps.params.refreshMs;
  }

  /** Periodic: pick up a newer CRL from another replica; rebuild when the current one is due. */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const number = await this.deps.store.currentNumber(this.deps.ca.keyId);
      if (number !== null && (!this.published || number > this.published.crlNumber)) await this.loadStored();
      if (this.refreshDue() && !this.running && this.waiters.length === 0) void this.rebuild().catch(() => undefined);
    } catch (err) {
      this.deps.logger.debug({ err }, 'CRL poll failed');
    } finally {
      this.ticking = false;
    }
  }
}
