import { Router } from 'express';
import { z } from 'zod';
import { GENERATED_KEY_TYPES, type ClientIdentity } from '../../domain/client-identity';
import { CaError } from '../../domain/errors';
import type { IdentityService } from '../../services/identity-service';
import type { KeyService } from '../../services/key-service';
import { audited, auditOriginOf } from '../audit';
import { principalOf, requirePermission } from '../auth';
import { jsonBody, requireContentType } from '../media';
import { parseInput } from '../schemas';

/** POST /identities (issued here). */
export const createIdentitySchema = z.strictObject({
  name: z.string().min(1).max(128),
  account: z.string().min(1).max(64),
  exportable: z.boolean().default(false),
  issue: z.strictObject({ commonName: z.string().min(1).max(64), keyType: z.enum(GENERATED_KEY_TYPES).default('ec-p256') }),
});

const listSchema = z.strictObject({
  account: z.string().min(1).max(64).optional(),
  limit: z.string().regex(/^\d{1,4}$/).transform(Number).pipe(z.number().int().min(1).max(1000)).default(100),
});

/** What an answer shows of an identity: never its key. */
export function identityView(identity: ClientIdentity, state: string) {
  return {
    id: identity.id,
    name: identity.name,
    account: identity.account,
    origin: identity.origin,
    state,
    keyType: identity.keyType,
    exportable: identity.exportable,
    publicKeySha256: identity.publicKeySha256,
    fingerprint: identity.fingerprintSha256,
    serialNumber: identity.serialNumber,
    subject: identity.subject,
    issuer: identity.issuer,
    notBefore: identity.notBefore?.toISOString() ?? null,
    notAfter: identity.notAfter?.toISOString() ?? null,
    certificate: identity.certificatePem,
    chain: identity.chainPem,
    csr: identity.csrPem,
    createdAt: identity.createdAt.toISOString(),
    updatedAt: identity.updatedAt.toISOString(),
  };
}

/** /identities: client identities of the outgoing side (permission identities:manage). */
export function identitiesRouter(deps: { keys: KeyService; identities: IdentityService }): Router {
  const router = Router();
  const { keys, identities } = deps;
  const view = (i: ClientIdentity) => identityView(i, identities.state(i));

  router.post('/', audited('identity.create'), requirePermission(keys, 'identities:manage'), requireContentType(['application/json']), jsonBody(64 * 1024), async (req, res) => {
    const body = parseInput(createIdentitySchema, req.body, 'body');
    const identity = await identities.issue(principalOf(res), { name: body.name, account: body.account, exportable: body.exportable, ...body.issue }, auditOriginOf(req, res));
    res.status(201).location(`/identities/${identity.id}`).json(view(identity));
  });

  router.get('/', requirePermission(keys, 'identities:manage'), async (req, res) => {
    const query = parseInput(listSchema, req.query, 'query');
    res.json({ items: (await identities.list(principalOf(res), query.account, query.limit)).map(view) });
  });

  router.get('/:id', requirePermission(keys, 'identities:manage'), async (req, res) => {
    res.json(view(await identities.get(principalOf(res), String(req.params.id))));
  });

  router.delete('/:id', audited('identity.delete', (req) => ({ details: { identityId: String(req.params.id).slice(0, 64) } })), requirePermission(keys, 'identities:manage'), async (req, res) => {
    await identities.delete(principalOf(res), String(req.params.id), auditOriginOf(req, res));
    res.status(204).end();
  });

  router.all('/', () => {
    throw new CaError('method-not-allowed', 'use GET or POST on /identities');
  });
  return router;
}
