import { Router, type RequestHandler } from 'express';
import { MAX_CSR_BYTES } from '../../domain/csr-policy';
import { CaError } from '../../domain/errors';
import type { KeyService } from '../../services/key-service';
import type { SigningService } from '../../services/signing-service';
import { audited, auditOriginOf } from '../audit';
import { principalOf, requirePermission } from '../auth';
import { bodyBytes, rawBody, requireContentType } from '../media';
import { sendIssued } from '../views';

export const CSR_CONTENT_TYPES = ['text/plain', 'application/pkcs10', 'application/x-pem-file'] as const;

/** POST /private-certificates/sign's handlers, in order: a CSR in, a PEM certificate out (JSON on request). */
export function signHandlers(deps: { keys: KeyService; signing: SigningService; chainPem: () => string }): RequestHandler[] {
  return [
    audited('certificate.sign'),
    requirePermission(deps.keys, 'certificates:sign'),
    requireContentType(CSR_CONTENT_TYPES),
    rawBody(MAX_CSR_BYTES),
    async (req, res) => {
      const format = req.accepts(['text/plain', 'application/x-pem-file', 'application/json']);
      if (!format) throw new CaError('not-acceptable', 'this endpoint answers text/plain or application/x-pem-file (PEM), or application/json');
      // The request deadline already answered (a slow ledger or key lookup): the client was told to retry, so nothing is issued.
      if (res.headersSent) return;
      const issued = await deps.signing.sign(principalOf(res), bodyBytes(req), auditOriginOf(req, res));
      sendIssued(res, format, issued, deps.chainPem());
    },
  ];
}

/** POST /private-certificates/sign (the handlers of signHandlers). */
export function signRouter(handlers: RequestHandler[]): Router {
  const router = Router();
  router.post('/sign', ...handlers);
  return router;
}
