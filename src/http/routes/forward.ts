import { Router } from 'express';
import { CaError } from '../../domain/errors';
import { parseOutboundTarget } from '../../domain/outbound-route';
import type { AuditTrail } from '../../services/audit-trail';
import type { Forwarder } from '../../services/forwarder';
import type { KeyService } from '../../services/key-service';
import { recordFailedRequests } from '../audit';
import { principalOf, requirePermission } from '../auth';
import { forwardProblem, relayAnswer } from '../forward-relay';

/**
 * ANY /forward: the target in X-Forward-Url (https), everything else passed through with the account's
 * identity (see Forwarder). Mounted before the global request limits: its body limit and deadline are
 * FORWARD_MAX_BODY_BYTES and FORWARD_TIMEOUT_MS, and a streamed answer may outlive REQUEST_TIMEOUT_MS.
 */
export function forwardRouter(deps: { keys: KeyService; forwarder: Forwarder; audit: AuditTrail }): Router {
  const router = Router();
  router.use(recordFailedRequests({ audit: deps.audit, keys: deps.keys }));
  router.all('/', requirePermission(deps.keys, 'forward'), async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const raw = req.headers['x-forward-url'];
    if (typeof raw !== 'string' || raw.length === 0) {
      throw new CaError('invalid-request', 'name the target in the X-Forward-Url header (https://host[:port]/path)', { extensions: { field: 'X-Forward-Url' } });
    }
    const target = parseOutboundTarget(raw, 'https');
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    let forwarded;
    try {
      forwarded = await deps.forwarder.forward(principalOf(res), target, { method: req.method, headers: req.headers, body: req, signal: gone.signal });
    } catch (e) {
      throw forwardProblem(e, res, 'mtls-ca');
    }
    await relayAnswer(res, forwarded);
  });
  return router;
}
