import { Router } from 'express';
import { MAX_CSR_BYTES } from '../../domain/csr-policy';
import { CaError } from '../../domain/errors';
import type { RenewalService } from '../../services/renewal-service';
import { audited, auditOriginOf } from '../audit';
import { presentedCertificate } from '../client-certificate';
import { bodyBytes, rawBody, requireContentType } from '../media';
import { sendIssued } from '../views';
import { CSR_CONTENT_TYPES } from './sign';

/**
 * POST /private-certificates/renew: authenticated by the client certificate alone (no API key). Empty
 * body: the same key; a CSR body: a new key. `?revokeOld=superseded` revokes the presented certificate.
 */
export function renewRouter(deps: { renewal: RenewalService; chainPem: () => string; clientCertHeader?: string }): Router {
  const router = Router();
  router.post(
    '/renew',
    audited('certificate.renew'),
    (req, res, next) => {
      // An empty body needs no Content-Type; a CSR one the same types as /sign.
      const length = req.headers['content-length'];
      const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
      if (hasBody) return requireContentType(CSR_CONTENT_TYPES)(req, res, next);
      next();
    },
    rawBody(MAX_CSR_BYTES),
    async (req, res) => {
      const format = req.accepts(['text/plain', 'application/x-pem-file', 'application/json']);
      if (!format) throw new CaError('not-acceptable', 'this endpoint answers text/plain or application/x-pem-file (PEM), or application/json');
      const revokeOld = req.query.revokeOld;
      if (revokeOld !== undefined && revokeOld !== 'superseded') {
        throw new CaError('invalid-request', 'revokeOld takes one value: superseded');
      }
      if (res.headersSent) return; // the request deadline already answered: nothing is renewed
      const issued = await deps.renewal.renew({
        presented: presentedCertificate(req, deps.clientCertHeader),
        body: bodyBytes(req),
        revokeOld: revokeOld === 'superseded' ? 'superseded' : null,
        origin: auditOriginOf(req, res),
      });
      sendIssued(res, format, issued, deps.chainPem(), { renewedFrom: issued.renewedFrom ?? null });
    },
  );
  return router;
}
