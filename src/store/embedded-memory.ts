import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for a process that holds the embedded database (PGlite): PostgreSQL compiled to
 * WebAssembly, with its own heap, shares the process's memory with the service. Set before PGlite
 * compiles its module; they are process-wide and apply to what runs later in the process too.
 */

/**
 * V8 compiles WebAssembly twice by default: at once with its baseline compiler (Liftoff) for every
 * function of the module, then again optimised (TurboFan) for the hot ones, and keeps both. For
 * PostgreSQL's 9 MB module that baseline code is ~95 MB of the service's peak memory (measured under
 * signing load: peak RSS ~450 → ~360 MB, same CPU per certificate). Compiled optimised only instead:
 * about a second more at start. Prisma's query compiler, compiled later, gains the same way.
 */
export function compileWebAssemblyOptimisedOnly(): void {
  setFlagsFromString('--no-liftoff');
}

/**
 * Lets the JavaScript heap grow by at most 100 % of what survived the last full collection before the
 * next one (V8 picks up to 4× on its own when collections are fast): under signing load its live size
 * is ~50 MB but it grew to ~170 MB of garbage between full collections, next to the ~150 MB the
 * database keeps outside it. Measured: peak RSS ~360 → ~285 MB for ~4 % more CPU per certificate.
 */
export function boundHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=100');
}
