import { Router, type Request } from 'express';
import { CaError } from '../../domain/errors';
import { parseRevocationReason } from '../../domain/revocation-reasons';
import type { CertificateService } from '../../services/certificate-service';
import type { KeyService } from '../../services/key-service';
import { audited, auditOriginOf, serialTarget } from '../audit';
import { principalOf, requirePermission } from '../auth';
import { jsonBody, requireContentType } from '../media';
import { listQuerySchema, parseInput, revokeBodySchema, revokeQuerySchema } from '../schemas';
import { certificateView } from '../views';

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** GET /private-certificates, GET and DELETE /private-certificates/{serialNumber}. */
export function certificatesRouter(deps: { keys: KeyService; certificates: CertificateService }): Router {
  const router = Router();
  const { keys, certificates } = deps;

  router.get('/', requirePermission(keys, 'certificates:read'), async (req, res) => {
    const query = parseInput(listQuerySchema, req.query, 'query');
    const page = await certificates.list(principalOf(res), query);
    res.json({ items: page.items.map(certificateView), nextCursor: page.nextCursor });
  });

  router.get('/:serialNumber', requirePermission(keys, 'certificates:read'), async (req, res) => {
    const format = req.accepts(['application/json', 'application/x-pem-file', 'text/plain']);
    if (!format) throw new CaError('not-acceptable', 'this resource is available as application/json or PEM');
    const cert = await certificates.get(principalOf(res), String(req.params.serialNumber));
    res.vary('Accept');
    if (format === 'application/json') {
      res.json({ ...certificateView(cert), certificate: cert.pem });
      return;
    }
    res.type(format === 'text/plain' ? 'text/plain; charset=utf-8' : format).send(cert.pem);
  });

  router.delete(
    '/:serialNumber',
    audited('certificate.revoke', (req) => serialTarget(req.params.serialNumber)),
    requirePermission(keys, 'certificates:revoke'),
    (req, res, next) => (hasBody(req) ? requireContentType(['application/json'])(req, res, next) : next()),
    (req, res, next) => (hasBody(req) ? jsonBody(4 * 1024)(req, res, next) : next()),
    async (req, res) => {
      const fromQuery = parseInput(revokeQuerySchema, req.query, 'query').reason;
      const fromBody = hasBody(req) ? parseInput(revokeBodySchema, req.body, 'body').reason : undefined;
      if (fromQuery !== undefined && fromBody !== undefined && parseRevocationReason(fromQuery) !== parseRevocationReason(fromBody)) {
        throw new CaError('invalid-request', 'the reason is given twice (query and body) with different values');
      }
      const cert = await certificates.revoke(principalOf(res), String(req.params.serialNumber), fromBody ?? fromQuery, auditOriginOf(req, res));
      const revocation = cert.revocation!;
      res.json({ serialNumber: cert.serialNumber, revokedAt: revocation.revokedAt.toISOString(), reason: revocation.reason });
    },
  );
  return router;
}
