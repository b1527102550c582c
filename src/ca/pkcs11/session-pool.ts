/**
 * A fixed set of resources (PKCS#11 sessions) each used by one caller at a time; callers beyond
 * the set wait in order. A PKCS#11 session runs one operation at a time, so each signature holds
 * a session from C_SignInit to the signature's return.
 */
export class SessionPool<T> {
  private readonly idle: T[];
  private readonly waiting: Array<(item: T) => void> = [];
  private readonly size: number;
  private closed = false;

  constructor(items: readonly T[]) {
    if (items.length === 0) throw new Error('a session pool needs at least one session');
    this.idle = [...items];
    this.size = items.length;
  }

  /** How many callers wait for a session. */
  get queued(): number {
    return this.waiting.length;
  }

  async use<R>(fn: (item: T) => Promise<R>): Promise<R> {
    const item = await this.acquire();
    try {
      return await fn(item);
    } finally {
      this.release(item);
    }
  }

  /** Refuses new work; resolves when every session is back, with all of them. */
  async drain(): Promise<T[]> {
    this.closed = true;
    const all: T[] = [];
    while (all.length < this.size) all.push(await this.acquireForDrain());
    return all;
  }

  private acquire(): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the PKCS#11 session pool is closed'));
    return this.acquireForDrain();
  }

  private acquireForDrain(): Promise<T> {
    const item = this.idle.pop();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(item: T): void {
    const next = this.waiting.shift();
    if (next) next(item);
    else this.idle.push(item);
  }
}
