import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Permission } from './permissions';

/** An API key as the ledger keeps it: the token itself is never stored, only its HMAC. */
export interface ApiKey {
  readonly appKey: string;
  readonly account: string;
  readonly permissions: readonly Permission[];
  readonly tokenHash: string;
  readonly createdAt: Date;
  readonly createdBy: string | null;
  readonly disabledAt: Date | null;
}

/** Public view of a key (no hash). */
export type ApiKeySummary = Omit<ApiKey, 'tokenHash'>;

export const TOKEN_HASH_SCHEME = 'hmac-sha256';

/**
 * Hashes API tokens with HMAC-SHA256 under a server-side pepper that never enters the database,
 * and compares in constant time. Tokens are 256-bit random values, so a keyed fast hash is enough;
 * a stolen database alone does not let anyone test token guesses.
 */
export class TokenHasher {
  /** What an unknown key is compared against, so both paths compute exactly one HMAC. */
  private readonly decoy: Buffer;

  constructor(private readonly pepper: Buffer) {
    if (pepper.length < 32) throw new Error('the token pepper must be at least 32 bytes');
    this.decoy = Buffer.from(this.hash(randomBytes(32).toString('base64url')));
  }

  hash(token: string): string {
    return `${TOKEN_HASH_SCHEME}$${createHmac('sha256', this.pepper).update(token, 'utf8').digest('base64url')}`;
  }

  /** Constant-time check; `storedHash` null means an unknown key (still does the same work). */
  verify(token: string, storedHash: string | null): boolean {
    const actual = Buffer.from(this.hash(token));
    const expected = storedHash === null ? this.decoy : Buffer.from(storedHash);
    const same = actual.length === expected.length && timingSafeEqual(actual, expected);
    return same && storedHash !== null;
  }
}

export function newAppKey(): string {
  return `mtls-${randomBytes(12).toString('base64url')}`;
}

/** 256 bits from a CSPRNG. */
export function newAppToken(): string {
  return randomBytes(32).toString('base64url');
}
