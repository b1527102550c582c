import express, { Router, type Request, type Response } from 'express';
import type { ClientIdentity } from '../../domain/client-identity';
import { CaError } from '../../domain/errors';
import type { IdentityService } from '../../services/identity-service';
import type { KeyService } from '../../services/key-service';
import { audited, auditOriginOf } from '../audit';
import { principalOf, requirePermission } from '../auth';
import { MAX_PKCS12_BYTES } from '../../pkcs12/limits';
import { certificateSchema, createIdentitySchema, exportSchema, listSchema, pkcs12FormSchema } from '../identity-schemas';
import { jsonBody, requireContentType } from '../media';
import { readMultipart } from '../multipart';
import { parseInput } from '../schemas';

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
    revision: identity.revision,
    createdAt: identity.createdAt.toISOString(),
    updatedAt: identity.updatedAt.toISOString(),
  };
}

const PEM_TYPES = ['application/x-pem-file', 'application/pem-certificate-chain', 'text/plain'];
const idTarget = (req: Request) => ({ details: { identityId: String(req.params.id).slice(0, 64) } });

/** /identities: client identities of the outgoing side (permission identities:manage). */
export function identitiesRouter(deps: { keys: KeyService; identities: IdentityService }): Router {
  const router = Router();
  const { keys, identities } = deps;
  const manage = requirePermission(keys, 'identities:manage');
  const view = (i: ClientIdentity) => identityView(i, identities.state(i));

  /** POST /identities as JSON (issue, csr, import, pkcs12) or as a form with a PKCS#12 file. */
  async function create(req: Request, res: Response): Promise<ClientIdentity> {
    const principal = principalOf(res);
    const origin = auditOriginOf(req, res);
    if (req.is('multipart/form-data')) {
      const form = await readMultipart(req, { fileField: 'file', maxFileBytes: MAX_PKCS12_BYTES, textFields: ['name', 'account', 'exportable', 'password'], maxFieldBytes: 1024 });
      const fields = parseInput(pkcs12FormSchema, form.fields, 'form');
      if (!form.file) throw new CaError('invalid-request', 'send the PKCS#12 file in the form field "file"');
      return identities.importIdentity(principal, fields, { pkcs12: { data: form.file, password: fields.password } }, origin);
    }
    await new Promise<void>((resolve, reject) => jsonBody(512 * 1024)(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
    const body = parseInput(createIdentitySchema, req.body, 'body');
    const target = { name: body.name, account: body.account, exportable: body.exportable };
    if (body.issue) return identities.issue(principal, { ...target, ...body.issue }, origin);
    if (body.csr) return identities.requestCertificate(principal, { ...target, ...body.csr }, origin);
    if (body.import) return identities.importIdentity(principal, target, { pem: body.import }, origin);
    return identities.importIdentity(principal, target, { pkcs12: body.pkcs12! }, origin);
  }

  router.post('/', audited('identity.create'), manage, requireContentType(['application/json', 'multipart/form-data']), async (req, res) => {
    const identity = await create(req, res);
    res.status(201).location(`/identities/${identity.id}`).json(view(identity));
  });

  router.get('/', manage, async (req, res) => {
    const query = parseInput(listSchema, req.query, 'query');
    res.json({ items: (await identities.list(principalOf(res), query.account, query.limit)).map(view) });
  });

  router.get('/:id', manage, async (req, res) => {
    res.json(view(await identities.get(principalOf(res), String(req.params.id))));
  });

  router.put(
    '/:id/certificate',
    audited('identity.certificate', idTarget),
    manage,
    requireContentType(['application/json', ...PEM_TYPES]),
    (req, res, next) => (req.is('application/json') ? jsonBody(64 * 1024) : express.text({ type: () => true, limit: 64 * 1024 }))(req, res, next),
    async (req, res) => {
      const input = typeof req.body === 'string' ? { certificate: req.body } : parseInput(certificateSchema, req.body, 'body');
      res.json(view(await identities.setCertificate(principalOf(res), String(req.params.id), input, auditOriginOf(req, res))));
    },
  );

  router.post('/:id/pkcs12', audited('identity.export', idTarget), manage, requireContentType(['application/json']), jsonBody(4 * 1024), async (req, res) => {
    const body = parseInput(exportSchema, req.body, 'body');
    const { identity, der } = await identities.exportPkcs12(principalOf(res), String(req.params.id), body.password, body.profile, auditOriginOf(req, res));
    const filename = `${identity.name.replace(/[^A-Za-z0-9._-]/g, '_')}.p12`;
    res.status(200).type('application/x-pkcs12').set('Content-Disposition', `attachment; filename="${filename}"`).send(der);
  });

  router.delete('/:id', audited('identity.delete', idTarget), manage, async (req, res) => {
    await identities.delete(principalOf(res), String(req.params.id), auditOriginOf(req, res));
    res.status(204).end();
  });

  router.all('/', () => {
    throw new CaError('method-not-allowed', 'use GET or POST on /identities');
  });
  return router;
}
