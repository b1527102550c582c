import express, { Router } from 'express';
import { z } from 'zod';
import type { AuditSink } from '../../domain/audit-event';
import type { KeyService } from '../../services/key-service';
import type { IssuerRegistry } from '../../services/issuer-registry';
import { CaError } from '../../domain/errors';
import { audited, auditOriginOf } from '../audit';
import { principalOf, requirePermission } from '../auth';
import { jsonBody, requireContentType } from '../media';
import { parseInput } from '../schemas';

const rotateSchema = z.object({ csr: z.boolean().optional() }).strict();
const issuerId = z.string().regex(/^[a-z0-9-]{1,64}$/, 'an issuer id: lowercase letters, digits and dashes');

/**
 * The CA's issuers (admin): list, rotate (a new pending issuer, self-signed or a CSR for an offline
 * root), give a pending issuer its certificate, activate it.
 */
export function issuersRouter(keys: KeyService, issuers: IssuerRegistry, audit: AuditSink): Router {
  const router = Router();
  const admin = requirePermission(keys, 'admin');
  const target = (req: express.Request) => ({ details: { issuer: String(req.params.id) } });

  router.get('/', admin, (_req, res) => {
    res.json({ items: issuers.list() });
  });

  router.get('/:id', admin, (req, res) => {
    res.json(issuers.view(parseInput(issuerId, req.params.id, 'id')));
  });

  router.post('/', audited('ca.rotate'), admin, requireContentType(['application/json']), jsonBody(1024), async (req, res) => {
    const input = parseInput(rotateSchema, req.body ?? {}, 'body');
    const created = await issuers.rotate({ csr: input.csr ?? false });
    await audit.record({ ...auditOriginOf(req, res), action: 'ca.rotate', outcome: 'success', actor: principalOf(res).appKey, details: { issuer: created.id, keyId: created.keyId, csr: String(Boolean(input.csr)) } });
    res.status(201).location(`/ca/issuers/${created.id}`).json(created);
  });

  router.put(
    '/:id/certificate',
    audited('ca.certificate', target),
    admin,
    requireContentType(['application/x-pem-file', 'application/pem-certificate-chain', 'text/plain']),
    express.text({ type: () => true, limit: 64 * 1024 }),
    async (req, res) => {
      const id = parseInput(issuerId, req.params.id, 'id');
      if (typeof req.body !== 'string' || !req.body.includes('-----BEGIN CERTIFICATE-----')) throw new CaError('invalid-request', 'the body must be the PEM certificate');
      const view = await issuers.setCertificate(id, req.body);
      await audit.record({ ...auditOriginOf(req, res), action: 'ca.certificate', outcome: 'success', actor: principalOf(res).appKey, details: { issuer: id, keyId: view.keyId } });
      res.json(view);
    },
  );

  router.post('/:id/activate', audited('ca.activate', target), admin, async (req, res) => {
    const id = parseInput(issuerId, req.params.id, 'id');
    const view = await issuers.activate(id);
    await audit.record({ ...auditOriginOf(req, res), action: 'ca.activate', outcome: 'success', actor: principalOf(res).appKey, details: { issuer: id, keyId: view.keyId } });
    res.json(view);
  });
  return router;
}
