import { Router } from 'express';
import { z } from 'zod';
import { NAME_PATTERN } from '../../domain/csr-policy';
import { WEBHOOK_EVENTS, type Webhook, type WebhookDelivery } from '../../domain/webhook';
import type { KeyService } from '../../services/key-service';
import type { WebhookService } from '../../services/webhook-service';
import { principalOf, requirePermission } from '../auth';
import { jsonBody, requireContentType } from '../media';
import { parseInput } from '../schemas';

/** POST /webhooks */
const webhookSchema = z.strictObject({
  url: z.string().min(1).max(2048),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length * 2),
  account: z.string().regex(NAME_PATTERN, 'an account name').optional(),
  identity: z.string().min(1).max(128).optional(),
  serverCa: z.string().min(1).max(256 * 1024).optional(),
});
const idParam = z.string().regex(/^wh_[a-f0-9]{32}$/, 'a webhook id (wh_…)');
const deliveriesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(100) });

/** The JSON of a webhook (never its secret: that is shown once, on creation). */
export function webhookView(w: Webhook) {
  return {
    id: w.id,
    account: w.account,
    url: w.url,
    events: w.events,
    identity: w.identity,
    serverCa: w.serverCa,
    createdBy: w.createdBy,
    createdAt: w.createdAt.toISOString(),
  };
}

function deliveryView(d: WebhookDelivery) {
  return {
    id: d.id,
    eventId: d.eventId,
    type: d.type,
    serialNumber: d.serialNumber,
    state: d.state,
    attempts: d.attempts,
    nextAttemptAt: d.state === 'pending' ? d.nextAttemptAt.toISOString() : null,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
  };
}

/** Webhooks: permission webhooks:manage, tenant-scoped (admins any account, or all accounts). */
export function webhooksRouter(deps: { keys: KeyService; webhooks: WebhookService }): Router {
  const router = Router();
  const manage = requirePermission(deps.keys, 'webhooks:manage');

  router.post('/', manage, requireContentType(['application/json']), jsonBody(512 * 1024), async (req, res) => {
    const created = await deps.webhooks.create(principalOf(res), parseInput(webhookSchema, req.body, 'webhook'));
    res.status(201).location(`/webhooks/${created.id}`).json({ ...webhookView(created), secret: created.secret });
  });
  router.get('/', manage, async (_req, res) => {
    res.json({ items: (await deps.webhooks.list(principalOf(res))).map(webhookView) });
  });
  router.get('/:id', manage, async (req, res) => {
    res.json(webhookView(await deps.webhooks.get(principalOf(res), parseInput(idParam, req.params.id, 'id'))));
  });
  router.get('/:id/deliveries', manage, async (req, res) => {
    const q = parseInput(deliveriesQuery, req.query, 'query');
    const items = await deps.webhooks.deliveries(principalOf(res), parseInput(idParam, req.params.id, 'id'), q.limit);
    res.json({ items: items.map(deliveryView) });
  });
  router.delete('/:id', manage, async (req, res) => {
    await deps.webhooks.delete(principalOf(res), parseInput(idParam, req.params.id, 'id'));
    res.status(204).end();
  });
  return router;
}
