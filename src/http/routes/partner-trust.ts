import { Router } from 'express';
import type { KeyService } from '../../services/key-service';
import type { PartnerTrustService } from '../../services/partner-trust-service';
import type { PartnerTrustKind } from '../../store/partner-trust-repository';
import { audited, auditOriginOf } from '../audit';
import { principalOf, requirePermission } from '../auth';
import { jsonBody, requireContentType } from '../media';
import { parseInput, partnerCertificateSchema, partnerTrustIdParam, partnerTrustListQuerySchema } from '../schemas';

export interface PartnerTrustRouterDeps {
  readonly keys: KeyService;
  readonly trust: PartnerTrustService;
}

/** One admin resource: POST (add), GET (list), DELETE /:id, for anchors or for registered client certificates. */
function registryRouter(deps: PartnerTrustRouterDeps, kind: PartnerTrustKind, path: string): Router {
  const router = Router();
  const admin = requirePermission(deps.keys, 'admin');
  const [addAction, removeAction] = kind === 'anchor' ? (['trust-anchor.add', 'trust-anchor.remove'] as const) : (['client-certificate.register', 'client-certificate.remove'] as const);

  router.post('/', audited(addAction), admin, requireContentType(['application/json']), jsonBody(128 * 1024), async (req, res) => {
    const input = parseInput(partnerCertificateSchema, req.body, 'body');
    const actor = principalOf(res).appKey;
    const entry =
      kind === 'anchor'
        ? await deps.trust.addAnchor(input.account, input.certificate, actor, auditOriginOf(req, res))
        : await deps.trust.registerClient(input.account, input.certificate, actor, auditOriginOf(req, res));
    res.status(201).location(`${path}/${entry.id}`).json(entry);
  });

  router.get('/', admin, async (req, res) => {
    const query = parseInput(partnerTrustListQuerySchema, req.query, 'query');
    res.json({ items: await deps.trust.list(kind, query.account) });
  });

  router.delete('/:id', audited(removeAction, (req) => ({ details: { id: String(req.params.id).slice(0, 64) } })), admin, async (req, res) => {
    const id = parseInput(partnerTrustIdParam, req.params.id, 'id');
    res.json(await deps.trust.remove(kind, id, principalOf(res).appKey, auditOriginOf(req, res)));
  });
  return router;
}

export const trustAnchorsRouter = (deps: PartnerTrustRouterDeps): Router => registryRouter(deps, 'anchor', '/trust-anchors');
export const clientCertificatesRouter = (deps: PartnerTrustRouterDeps): Router => registryRouter(deps, 'client', '/client-certificates');

/** GET /gateway/trust-material: for the gateway's own key (gateway:read) only; ETag and If-None-Match. */
export function gatewayTrustRouter(deps: PartnerTrustRouterDeps): Router {
  const router = Router();
  router.get('/trust-material', requirePermission(deps.keys, 'gateway:read'), async (req, res) => {
    const material = await deps.trust.trustMaterial();
    const etag = `"${material.version}"`;
    res.setHeader('ETag', etag);
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    res.json(material);
  });
  return router;
}
