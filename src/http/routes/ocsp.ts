import type { ServerResponse } from 'node:http';
import express, { Router } from 'express';
import type { Logger } from 'pino';
import type { OcspResponder } from '../../services/ocsp-responder';
import { setRoutePattern } from '../route-pattern';

const MAX_OCSP_REQUEST = 16 * 1024;

/** An OCSP answer (plain node:http: the hot path sends it too). */
export function sendOcsp(res: ServerResponse, der: Buffer): void {
  res.setHeader('Content-Type', 'application/ocsp-response');
  res.setHeader('Content-Length', der.length);
  res.setHeader('Cache-Control', 'no-cache');
  res.statusCode = 200;
  res.end(der);
}

/** The DER request of GET /ocsp/{request}, from the part after `/ocsp/` (RFC 6960 A.1); empty when unreadable. */
export function ocspGetRequest(pathRest: string): Buffer {
  try {
    const b64 = decodeURIComponent(pathRest.split('?')[0]);
    if (b64.length <= MAX_OCSP_REQUEST * 2 && /^[A-Za-z0-9+/=_-]*$/.test(b64)) return Buffer.from(b64, 'base64');
  } catch {
    // a malformed escape: an empty request (answered malformedRequest)
  }
  return Buffer.alloc(0);
}

/** POST /ocsp (DER body) and GET /ocsp/{url-encoded base64} (RFC 6960 appendix A). Always an OCSP answer. */
export function ocspRouter(responder: Pick<OcspResponder, 'respond'>): Router {
  const router = Router();
  router.post('/ocsp', express.raw({ type: () => true, limit: MAX_OCSP_REQUEST, inflate: false }), async (req, res) => {
    sendOcsp(res, await responder.respond(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), res.locals.logger as Logger | undefined));
  });
  // Mounted with use(), not a route parameter: a malformed escape must still get an OCSP answer.
  router.use('/ocsp', async (req, res, next) => {
    if (req.method !== 'GET' || req.url === '/' || req.url.startsWith('/?')) return next();
    setRoutePattern(res, '/ocsp/:request');
    sendOcsp(res, await responder.respond(ocspGetRequest(req.url.slice(1)), res.locals.logger as Logger | undefined));
  });
  return router;
}
