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
