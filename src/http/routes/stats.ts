import { Router } from 'express';
import type { DashboardService } from '../../services/dashboard-service';
import type { KeyService } from '../../services/key-service';
import { principalOf, requirePermission } from '../auth';
import { parseInput, statsQuerySchema } from '../schemas';

/** GET /stats: the dashboard's aggregates, within the caller's account (admins: any, or all). */
export function statsRouter(deps: { keys: KeyService; dashboard: DashboardService }): Router {
  const router = Router();
  router.get('/', requirePermission(deps.keys, 'certificates:read'), async (req, res) => {
    const query = parseInput(statsQuerySchema, req.query, 'query');
    res.json(await deps.dashboard.summary(principalOf(res), query));
  });
  return router;
}
