export interface QueryOptions {
  /** Prepare the statement once per connection under this name (hot paths). */
  readonly name?: string;
}

/** Client-side bound for bulk statements (a full CRL build, migrations): just above the server's statement_timeout. */
export const BULK_TIMEOUT_MS = 65_000;

export interface TransactionOptions {
  /** Client-side bound on each statement of the transaction, for bulk work longer than a request's (PostgreSQL only). */
  readonly timeoutMs?: number;
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
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

/** A WHERE clause built from optional conditions, with its numbered parameters ($1, $2, …). */
export class SqlConditions {
  readonly params: unknown[] = [];
  private readonly conditions: string[] = [];

  /** Adds a parameter; returns its placeholder. */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(condition: string): void {
    this.conditions.push(condition);
  }

  /** `WHERE a AND b …`, or nothing without conditions. */
  get where(): string {
    return this.conditions.length ? `WHERE ${this.conditions.join(' AND ')}` : '';
  }
}
