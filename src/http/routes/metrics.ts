import { createHash, timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { CaError } from '../../domain/errors';
import type { Scrape } from '../../observability/metrics';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** GET /metrics: Prometheus text exposition; behind `Authorization: Bearer <token>` when a token is set. */
export function metricsRouter(deps: { scrape: () => Promise<Scrape>; token?: string }): Router {
  const router = Router();
  // Digests of equal length, compared in constant time: the token's length does not leak either.
  const expected = deps.token ? digest(deps.token) : null;
  router.get('/metrics', async (req, res) => {
    if (expected) {
      const match = /^Bearer ([!-~]{1,1024})$/i.exec(req.headers.authorization ?? '');
      if (!match || !timingSafeEqual(digest(match[1]), expected)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new CaError('unauthorized', 'the metrics endpoint needs Authorization: Bearer with the metrics token');
      }
    }
    const { contentType, body } = await deps.scrape();
    res.set('Cache-Control', 'no-store').type(contentType).send(body);
  });
  return router;
}
