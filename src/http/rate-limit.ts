import type { RequestHandler } from 'express';
import { CaError } from '../domain/errors';
import type { RateLimiter, RateRule } from '../services/rate-limiter';

/**
 * Limits requests per client IP. The IP is `req.ip`: the socket address, or the X-Forwarded-For hop
 * that TRUST_PROXY says to believe — never a header a client can set by itself.
 */
export function limitPerClientIp(limiter: RateLimiter, rule: RateRule): RequestHandler {
  return async (req, _res, next) => {
    await takeClientIpLimit(limiter, rule, req.ip ?? req.socket.remoteAddress ?? 'unknown');
    next();
  };
}

/** Counts one request of `ip` against `rule`; 429 (with Retry-After) when it is over. */
export async function takeClientIpLimit(limiter: RateLimiter, rule: RateRule, ip: string): Promise<void> {
  const decision = await limiter.take(rule, ip);
  if (!decision.allowed) {
    throw new CaError('too-many-requests', `more than ${rule.limit} requests per ${rule.windowMs / 1000} s from this address; slow down`, {
      retryAfterSeconds: decision.retryAfterSeconds,
    });
  }
}
