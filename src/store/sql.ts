export interface QueryOptions {
  /** Prepare the statement once per connection under this name (hot paths). */
  readonly name?: string;
}

/** The raw SQL surface the store needs besides Prisma: migrations, bulk reads and advisory locks. */
export interface SqlRunner {
  query<T = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<T[]>;
  /** Runs a script of several statements (no parameters). */
  exec(text: string): Promise<void>;
}

export interface SqlDatabase extends SqlRunner {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction on one connection. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
