import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { CaError } from '../domain/errors';
import type { RateLimiter, RateRule } from './rate-limiter';

export interface AuthGuardRules {
  /** Failed authentications in a row per (appKey, client address) before that pair is blocked; 0: off. */
  readonly failuresPerKeyAndIp: number;
  /** Failed authentications per client address, whatever the appKeys, before the address is blocked; 0: off. */
  readonly failuresPerIp: number;
  /** How long failures are remembered, and the first block. */
  readonly failureWindowMs: number;
  /** Each further block of the same pair or address doubles, up to this. */
  readonly maxBlockMs: number;
  /** Requests allowed per authenticated API key. */
  readonly perKey: RateRule;
}

/** One authentication attempt, from the check before it to its outcome. */
export interface AuthAttempt {
  readonly appKey: string;
  readonly clientIp: string;
  /** The pair has failures on record: a success clears them. */
  readonly pairHasFailures: boolean;
}

/** How long a block is remembered, for the doubling of the next one. */
const BLOCK_HISTORY_MS = 86_400_000;
const SCOPE = 'auth-failures';

/**
 * Throttles failed authentication like rate-limiter-flexible's login protection: per (appKey, client
 * address), so failures from one address never lock the key's owner out elsewhere, and per address, so
 * spraying appKeys locks out only the sprayer. A block doubles each time (backoff). The presented appKey
 * is used as is, known or not, so the throttle answers the same either way and reveals nothing.
 */
export class AuthGuard {
  private readonly byKeyAndIp: RateLimiterAbstract;
  private readonly byIp: RateLimiterAbstract;
  private readonly blocks: RateLimiterAbstract;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly rules: AuthGuardRules,
  ) {
    const durationMs = rules.failureWindowMs;
    this.byKeyAndIp = limiter.counter({ keyPrefix: 'auth-key-ip', points: rules.failuresPerKeyAndIp, durationMs });
    this.byIp = limiter.counter({ keyPrefix: 'auth-ip', points: rules.failuresPerIp, durationMs });
    this.blocks = limiter.counter({ keyPrefix: 'auth-blocks', points: 1, durationMs: BLOCK_HISTORY_MS });
  }

  /** Throws 429 while this pair or this address is blocked; otherwise starts the attempt. */
  async beforeAuthenticate(appKey: string, clientIp: string | undefined): Promise<AuthAttempt> {
    const ip = clientIp ?? 'unknown';
    const [pair, address] = await Promise.all([
      this.rules.failuresPerKeyAndIp > 0 ? this.byKeyAndIp.get(pairKey(appKey, ip)) : null,
      this.rules.failuresPerIp > 0 ? this.byIp.get(ip) : null,
    ]);
    const waitMs = Math.max(blockedFor(pair, this.rules.failuresPerKeyAndIp), blockedFor(address, this.rules.failuresPerIp));
    if (waitMs > 0) {
      const refusal = this.limiter.refused(SCOPE, Math.max(1, Math.ceil(waitMs / 1000)));
      throw new CaError('too-many-requests', 'too many failed authentication attempts; wait before trying again', {
        retryAfterSeconds: refusal.retryAfterSeconds,
      });
    }
    return { appKey, clientIp: ip, pairHasFailures: pair !== null && pair.msBeforeNext > 0 };
  }

  /** Counts a failure of the pair and of the address; blocks whichever reached its limit. */
  async failed(attempt: AuthAttempt): Promise<void> {
    await Promise.all([
      this.penalise(this.byKeyAndIp, pairKey(attempt.appKey, attempt.clientIp), this.rules.failuresPerKeyAndIp),
      this.penalise(this.byIp, attempt.clientIp, this.rules.failuresPerIp),
    ]);
  }

  /** Clears the pair's failures (they count in a row) and counts a request of the key; 429 over the per-key limit. */
  async admitted(attempt: AuthAttempt): Promise<void> {
    if (attempt.pairHasFailures) await this.byKeyAndIp.delete(pairKey(attempt.appKey, attempt.clientIp));
    const decision = await this.limiter.take(this.rules.perKey, attempt.appKey);
    if (!decision.allowed) {
      throw new CaError('too-many-requests', 'this API key is sending requests too fast; slow down', {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
  }

  private async penalise(counter: RateLimiterAbstract, key: string, limit: number): Promise<void> {
    if (limit <= 0) return;
    const failures = await counter.penalty(key);
    if (failures.consumedPoints !== limit) return; // blocked once, by the failure that reaches the limit
    const previousBlocks = (await this.blocks.penalty(`${counter.keyPrefix}:${key}`)).consumedPoints - 1;
    const blockMs = Math.min(this.rules.failureWindowMs * 2 ** Math.min(previousBlocks, 30), this.rules.maxBlockMs);
    await counter.block(key, blockMs / 1000);
  }
}

/** The client address first: it never holds `|`, so no two (appKey, address) pairs share a key. */
function pairKey(appKey: string, clientIp: string): string {
  return `${clientIp}|${appKey}`;
}

/** Milliseconds left of a block (the library marks one as points past the limit until it expires); 0: none. */
function blockedFor(res: RateLimiterRes | null, limit: number): number {
  return res !== null && res.consumedPoints > limit && res.msBeforeNext > 0 ? res.msBeforeNext : 0;
}
