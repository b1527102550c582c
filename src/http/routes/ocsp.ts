import express, { Router, type Response } from 'express';
import type { Logger } from 'pino';
import type { OcspResponder } from '../../services/ocsp-responder';
import { setRoutePattern } from '../route-pattern';

const MAX_OCSP_REQUEST = 16 * 1024;

function send(res: Response, der: Buffer): void {
  res.setHeader('Content-Type', 'application/ocsp-response');
  res.setHeader('Content-Length', der.length);
  res.setHeader('Cache-Control', 'no-cache');
  res.status(200).end(der);
}

/** POST /ocsp (DER body) and GET /ocsp/{url-encoded base64} (RFC 6960 appendix A). Always an OCSP answer. */
export function ocspRouter(responder: Pick<OcspResponder, 'respond'>): Router {
  const router = Router();
  router.post('/ocsp', express.raw({ type: () => true, limit: MAX_OCSP_REQUEST, inflate: false }), async (req, res) => {
    send(res, await responder.respond(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), res.locals.logger as Logger | undefined));
  });
  // Mounted with use(), not a route parameter: a malformed escape must still get an OCSP answer.
  router.use('/ocsp', async (req, res, next) => {
    if (req.method !== 'GET' || req.url === '/' || req.url.startsWith('/?')) return next();
    setRoutePattern(res, '/ocsp/:request');
    let der = Buffer.alloc(0);
    try {
      const b64 = decodeURIComponent(req.url.slice(1).split('?')[0]);
      if (b64.length <= MAX_OCSP_REQUEST * 2 && /^[A-Za-z0-9+/=_-]*$/.test(b64)) der = Buffer.from(b64, 'base64');
    } catch {
      der = Buffer.alloc(0);
    }
    send(res, await responder.respond(der, res.locals.logger as Logger | undefined));
  });
  return router;
}
