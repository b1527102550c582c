import { Router } from 'express';
import type { KeyService } from '../../services/key-service';
import { audited, auditOriginOf } from '../audit';
import { principalOf, requireAuthentication, requirePermission } from '../auth';
import { jsonBody, requireContentType } from '../media';
import { appKeyParam, createKeySchema, parseInput } from '../schemas';

/** API keys: admins create, list and disable them. The token is shown only in the creation answer. */
export function keysRouter(keys: KeyService): Router {
  const router = Router();
  const admin = requirePermission(keys, 'admin');

  router.post('/', audited('key.create'), admin, requireContentType(['application/json']), jsonBody(16 * 1024), async (req, res) => {
    const input = parseInput(createKeySchema, req.body, 'key');
    const created = await keys.create(input, principalOf(res).appKey, auditOriginOf(req, res));
    res.status(201).location(`/keys/${created.appKey}`).json(created);
  });

  // What the calling key is and may do (any valid key): the console shows only what it may use.
  router.get('/me', requireAuthentication(keys), (_req, res) => {
    const principal = principalOf(res);
    res.json({ appKey: principal.appKey, account: principal.account, permissions: [...principal.permissions] });
  });

  router.get('/', admin, async (_req, res) => {
    res.json({ items: await keys.list() });
  });

  router.delete('/:appKey', audited('key.disable', (req) => ({ details: { appKey: String(req.params.appKey) } })), admin, async (req, res) => {
    const appKey = parseInput(appKeyParam, req.params.appKey, 'appKey');
    res.json(await keys.disable(appKey, principalOf(res), auditOriginOf(req, res)));
  });
  return router;
}
