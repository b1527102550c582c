import { CaError } from '../domain/errors';
import type { RateLimiter, RateRule } from './rate-limiter';

export interface AuthGuardRules {
  /** Failed authentications allowed per presented appKey, and per client IP, in one window. */
  readonly failures: RateRule;
  /** Requests allowed per authenticated API key. */
  readonly perKey: RateRule;
}

/**
 * Abuse limits around authentication. Failures are counted per presented appKey (known or not: the
 * throttle must not reveal which keys exist) and per client IP; once either is used up, further
 * attempts are refused with 429 before the token is even checked, so guessing gains nothing.
 */
export class AuthGuard {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly rules: AuthGuardRules,
  ) {}

  /** Throws 429 when this appKey or this client has failed too often in the current window. */
  async beforeAuthenticate(appKey: string, clientIp: string | undefined): Promise<void> {
    const byKey = await this.limiter.exceeded(this.rules.failures, `key:${appKey}`);
    const byIp = clientIp === undefined ? byKey : await this.limiter.exceeded(this.rules.failures, `ip:${clientIp}`);
    const refused = !byKey.allowed ? byKey : !byIp.allowed ? byIp : null;
    if (refused && !refused.allowed) {
      throw new CaError('too-many-requests', 'too many failed authentication attempts; wait before trying again', {
        retryAfterSeconds: refused.retryAfterSeconds,
      });
    }
  }

  async failed(appKey: string, clientIp: string | undefined): Promise<void> {
    await this.limiter.count(this.rules.failures, `key:${appKey}`);
    if (clientIp !== undefined) await this.limiter.count(this.rules.failures, `ip:${clientIp}`);
  }

  /** Counts a request of an authenticated key; throws 429 over the per-key limit. */
  async admitted(appKey: string): Promise<void> {
    const decision = await this.limiter.take(this.rules.perKey, appKey);
    if (!decision.allowed) {
      throw new CaError('too-many-requests', 'this API key is sending requests too fast; slow down', {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
  }
}
