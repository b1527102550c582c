import { Router } from 'express';

export interface ReadinessProbe {
  /** Named checks; all must be true to be ready. */
  check(): Promise<Record<string, boolean>>;
  /** Facts shown beside the checks that do not make the service unready (warnings). */
  details?(): Promise<Record<string, unknown>>;
}

/** /healthz: the process is up. /readyz: the database answers and the CA key is loaded. */
export function healthRouter(readiness: ReadinessProbe): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = await readiness.check();
    const ready = Object.values(checks).every(Boolean);
    const details = readiness.details ? await readiness.details() : undefined;
    res.set('Cache-Control', 'no-store').status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, ...(details && Object.keys(details).length ? { details } : {}) });
  });
  return router;
}
