/**
 * Group commit: callers submit rows one by one; rows that arrive while earlier flushes are in flight
 * are written together by the next flush (one statement, one commit). Each caller's promise settles
 * only when the flush holding its row has committed, so nobody is answered before the commit.
 */
interface Queued<T> {
  readonly row: T;
  readonly at: number;
  resolve(): void;
  reject(e: unknown): void;
}

export class GroupCommitter<T> {
  private queue: Array<Queued<T>> = [];
  private inFlight = 0;
  private flushScheduled = false;

  constructor(
    private readonly flush: (rows: T[]) => Promise<void>,
    /** Rows that failed as part of a batch are retried alone through this, to fail only the bad row. */
    private readonly single: (row: T) => Promise<void>,
    private readonly options: {
      maxBatch: number;
      maxInFlight: number;
      maxQueued?: number;
      /**
       * A row still waiting for a flush slot after this long fails instead of being written (the flushes
       * ahead of it are stuck on a hung database): the wait of a caller stays bounded by about this
       * plus one flush, however long the queue.
       */
      maxWaitMs?: number;
      /** Whether a failed batch may be one bad row's fault (retry the rows alone); otherwise every row fails with it. */
      retrySingly?: (error: unknown) => boolean;
      /**
       * Start a flush only at the end of the current turn of the event loop (setImmediate), so that every
       * row submitted in this turn joins it. For a database that runs on this thread (PGlite): its flush
       * completes before any other request is read, so a flush started at once would always hold one row.
       */
      gatherTurn?: boolean;
    },
  ) {}

  submit(row: T): Promise<void> {
    if (this.queue.length >= (this.options.maxQueued ?? 20_000)) {
      return Promise.reject(new Error('the ledger write queue is full'));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, at: Date.now(), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.options.gatherTurn) {
      if (this.flushScheduled || this.inFlight >= this.options.maxInFlight || this.queue.length === 0) return;
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.startFlushes();
      });
      return;
    }
    this.startFlushes();
  }

  private startFlushes(): void {
    const { maxWaitMs } = this.options;
    if (maxWaitMs !== undefined && this.queue.length > 0 && Date.now() - this.queue[0].at >= maxWaitMs) {
      const now = Date.now();
      const expired = this.queue.findIndex((q) => now - q.at < maxWaitMs);
      const stale = this.queue.splice(0, expired < 0 ? this.queue.length : expired);
      const error = new Error(`the ledger write waited more than ${maxWaitMs} ms for the database`);
      stale.forEach((q) => q.reject(error));
    }
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Array<Queued<T>>): Promise<void> {
    try {
      await this.flush(batch.map((b) => b.row));
      batch.forEach((b) => b.resolve());
    } catch (e) {
      if (batch.length === 1 || !(this.options.retrySingly?.(e) ?? true)) {
        // A lost or hung database fails every row alike: retrying them one by one would only double the wait.
        batch.forEach((b) => b.reject(e));
        return;
      }
      await Promise.all(
        batch.map((b) =>
          this.single(b.row).then(
            () => b.resolve(),
            (err) => b.reject(err),
          ),
        ),
      );
    }
  }
}
