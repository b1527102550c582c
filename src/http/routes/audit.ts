import { Router } from 'express';
import type { AuditTrail } from '../../services/audit-trail';
import type { KeyService } from '../../services/key-service';
import { requirePermission } from '../auth';
import { auditQuerySchema, parseInput } from '../schemas';
import { auditRecordView } from '../views';

/** GET /audit: the audit trail, newest first, for admins. */
export function auditRouter(deps: { keys: KeyService; audit: AuditTrail }): Router {
  const router = Router();
  router.get('/', requirePermission(deps.keys, 'admin'), async (req, res) => {
    const query = parseInput(auditQuerySchema, req.query, 'query');
    const page = await deps.audit.list(query);
    res.json({ items: page.items.map(auditRecordView), nextCursor: page.nextCursor });
  });
  return router;
}
