import { Router } from 'express';
import type { AuditTrail } from '../../services/audit-trail';
import { verifyAuditChain, type AuditChainReader } from '../../services/audit-verification';
import type { KeyService } from '../../services/key-service';
import { requirePermission } from '../auth';
import { auditQuerySchema, parseInput } from '../schemas';
import { auditRecordView } from '../views';

/** GET /audit: the audit trail, newest first, and GET /audit/verification: its hash chain checked, for admins. */
export function auditRouter(deps: { keys: KeyService; audit: AuditTrail; chain: AuditChainReader }): Router {
  const router = Router();
  router.get('/', requirePermission(deps.keys, 'admin'), async (req, res) => {
    const query = parseInput(auditQuerySchema, req.query, 'query');
    const page = await deps.audit.list(query);
    res.json({ items: page.items.map(auditRecordView), nextCursor: page.nextCursor });
  });
  // Walks the whole hash chain (as `mtls-ca audit verify` does): intact, or where it breaks.
  router.get('/verification', requirePermission(deps.keys, 'admin'), async (_req, res) => {
    const report = await verifyAuditChain(deps.chain);
    res.json(report);
  });
  return router;
}
