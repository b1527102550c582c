import { Router } from 'express';
import { z } from 'zod';
import { NAME_PATTERN } from '../../domain/csr-policy';
import type { OutboundRoute } from '../../domain/outbound-route';
import type { KeyService } from '../../services/key-service';
import type { OutboundRouteService } from '../../services/outbound-route-service';
import { principalOf, requirePermission } from '../auth';
import { jsonBody, requireContentType } from '../media';
import { parseInput } from '../schemas';

/** POST /outbound-routes and PUT /outbound-routes/{id} */
const routeSchema = z.strictObject({
  account: z.string().regex(NAME_PATTERN, 'an account name').optional(),
  match: z.strictObject({
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535).optional(),
    pathPrefix: z.string().min(1).max(1024).startsWith('/').optional(),
  }),
  identity: z.string().min(1).max(128),
  serverCa: z.string().min(1).max(256 * 1024).nullable().optional(),
});
const idParam = z.string().regex(/^[A-Za-z0-9-]{1,64}$/);
const listQuery = z.strictObject({ account: z.string().regex(NAME_PATTERN, 'an account name').optional() });

/** The JSON of a route (the pinned CA in full: it is public). */
export function routeView(r: OutboundRoute) {
  return {
    id: r.id,
    account: r.account,
    match: { host: r.host, port: r.port, pathPrefix: r.pathPrefix },
    identity: r.identityId,
    serverCa: r.serverCaPem,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

/** Outbound routes: permission identities:manage, tenant-scoped (admins any account). */
export function outboundRoutesRouter(deps: { keys: KeyService; routes: OutboundRouteService }): Router {
  const router = Router();
  const manage = requirePermission(deps.keys, 'identities:manage');
  const json = [requireContentType(['application/json']), jsonBody(512 * 1024)];

  router.post('/', manage, ...json, async (req, res) => {
    const route = await deps.routes.create(principalOf(res), parseInput(routeSchema, req.body, 'route'));
    res.status(201).location(`/outbound-routes/${route.id}`).json(routeView(route));
  });
  router.get('/', manage, async (req, res) => {
    const q = parseInput(listQuery, req.query, 'query');
    res.json({ items: (await deps.routes.list(principalOf(res), q.account)).map(routeView) });
  });
  router.get('/:id', manage, async (req, res) => {
    res.json(routeView(await deps.routes.get(principalOf(res), parseInput(idParam, req.params.id, 'id'))));
  });
  router.put('/:id', manage, ...json, async (req, res) => {
    const id = parseInput(idParam, req.params.id, 'id');
    res.json(routeView(await deps.routes.update(principalOf(res), id, parseInput(routeSchema, req.body, 'route'))));
  });
  router.delete('/:id', manage, async (req, res) => {
    await deps.routes.delete(principalOf(res), parseInput(idParam, req.params.id, 'id'));
    res.status(204).end();
  });
  return router;
}
