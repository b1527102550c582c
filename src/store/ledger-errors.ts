import { CaError } from '../domain/errors';

/** Turns a database failure into the 503 the API promises; keeps the cause for the log only. */
export async function ledgerCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CaError) throw e;
    throw new CaError('ledger-unavailable', `the certificate ledger is unavailable (${what}); try again shortly`, { cause: e });
  }
}

/** A unique-constraint violation, through Prisma or raw pg. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; cause?: { code?: string; originalCode?: string }; meta?: { driverAdapterError?: { cause?: { originalCode?: string; kind?: string } } } };
  return (
    err?.code === 'P2002' ||
    err?.code === '23505' ||
    err?.cause?.code === '23505' ||
    err?.cause?.originalCode === '23505' ||
    err?.meta?.driverAdapterError?.cause?.kind === 'UniqueConstraintViolation'
  );
}

/** An error the PostgreSQL server reported (it carries a SQLSTATE): the connection itself is still sound. */
export function isServerReported(e: unknown): boolean {
  const err = e as { code?: unknown; syscall?: unknown };
  return typeof err?.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && err.syscall === undefined;
}

/**
 * A failure the server blamed on the data (SQLSTATE class 22 data exception or 23 integrity violation):
 * in a multi-row statement, possibly one row's fault. Connection losses and timeouts are not.
 */
export function isDataError(e: unknown): boolean {
  return isServerReported(e) && /^2[23]/.test((e as { code: string }).code);
}
