/**
 * Group commit: callers submit rows one by one; rows that arrive while earlier flushes are in flight
 * are written together by the next flush (one statement, one commit). Each caller's promise settles
 * only when the flush holding its row has committed, so nobody is answered before the commit.
 */
export class GroupCommitter<T> {
  private queue: Array<{ row: T; resolve: () => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;

  constructor(
    private readonly flush: (rows: T[]) => Promise<void>,
    /** Rows that failed as part of a batch are retried alone through this, to fail only the bad row. */
    private readonly single: (row: T) => Promise<void>,
    private readonly options: { maxBatch: number; maxInFlight: number; maxQueued?: number },
  ) {}

  submit(row: T): Promise<void> {
    if (this.queue.length >= (this.options.maxQueued ?? 20_000)) {
      return Promise.reject(new Error('the ledger write queue is full'));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Array<{ row: T; resolve: () => void; reject: (e: unknown) => void }>): Promise<void> {
    try {
      await this.flush(batch.map((b) => b.row));
      batch.forEach((b) => b.resolve());
    } catch (e) {
      if (batch.length === 1) {
        batch[0].reject(e);
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
