import type { ServerResponse } from 'node:http';
import { Router, type Request, type Response } from 'express';
import { CaError } from '../../domain/errors';
import type { Clock } from '../../domain/clock';
import type { CrlPublisher, PublishedCrl } from '../../services/crl-publisher';

/** Seconds a cache may keep `crl`: at most `maxAgeSeconds`, and never past its nextUpdate. */
export function crlMaxAge(crl: PublishedCrl, clock: Clock, maxAgeSeconds: number): number {
  const untilNext = Math.floor((crl.nextUpdate.getTime() - clock.now().getTime()) / 1000);
  return Math.max(0, Math.min(maxAgeSeconds, untilNext));
}

/**
 * The answer to a GET of a CRL (DER, or PEM): its validators and caching headers, then 304 when
 * `ifNoneMatch` names its entity tag, else the bytes. Plain node:http (the hot path uses it too).
 */
export function sendCrl(res: ServerResponse, crl: PublishedCrl, pem: boolean, ifNoneMatch: string | undefined, maxAge: number): void {
  const etag = pem ? crl.pemEtag : crl.etag;
  res.setHeader('ETag', etag);
  res.setHeader('Last-Modified', crl.lastModified);
  res.setHeader('Expires', crl.expires);
  res.setHeader('Cache-Control', `public, max-age=${maxAge}, must-revalidate`);
  // Only entity tags decide: two CRLs can share a second, so If-Modified-Since could hide the newer one.
  if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*')) {
    res.statusCode = 304;
    res.end();
    return;
  }
  // end, not Express's send: Express would answer If-Modified-Since from Last-Modified by itself.
  const body = pem ? crl.pemBytes : crl.der;
  res.setHeader('Content-Type', pem ? 'application/x-pem-file' : 'application/pkix-crl');
  res.setHeader('Content-Length', body.length);
  res.statusCode = 200;
  res.end(body);
}

/** GET /crl (DER) and /crl.pem: served from memory, with validators; no database query per request. */
export function crlRouter(deps: {
  publisher: CrlPublisher;
  clock: Clock;
  maxAgeSeconds: number;
  /** GET /crl/{issuerId}[.pem]: the CRL of one issuer (null: no such issuer, or one that has signed nothing). */
  byIssuer?: (issuerId: string) => CrlPublisher | null;
  /** Every issuer's CRL publisher (GET /crls.pem). */
  all?: () => CrlPublisher[];
}): Router {
  const router = Router();
  const send = (req: Request, res: Response, pem: boolean, publisher: CrlPublisher = deps.publisher) => {
    const crl = publisher.current();
    if (!crl) throw new CaError('not-ready', 'no CRL has been published yet');
    sendCrl(res, crl, pem, req.headers['if-none-match'], crlMaxAge(crl, deps.clock, deps.maxAgeSeconds));
  };
  router.get('/crl', (req, res) => send(req, res, false));
  router.get('/crl.pem', (req, res) => send(req, res, true));
  if (deps.all) {
    const all = deps.all;
    // Every issuer's CRL, PEM, concatenated: what a relying party that trusts the bundle loads (nginx ssl_crl, the gateway).
    router.get('/crls.pem', (_req, res) => {
      const crls = all().flatMap((p) => (p.current() ? [p.current()!] : []));
      if (crls.length === 0) throw new CaError('not-ready', 'no CRL has been published yet');
      const body = Buffer.concat(crls.map((c) => c.pemBytes));
      const maxAge = Math.min(...crls.map((c) => crlMaxAge(c, deps.clock, deps.maxAgeSeconds)));
      res.setHeader('Cache-Control', `public, max-age=${maxAge}, must-revalidate`);
      res.setHeader('ETag', `"${crls.map((c) => c.etag.replace(/"/g, '')).join('.')}"`);
      res.setHeader('Content-Type', 'application/x-pem-file');
      res.status(200).end(body);
    });
  }
  if (deps.byIssuer) {
    const byIssuer = deps.byIssuer;
    router.get('/crl/:name', (req, res) => {
      const name = String(req.params.name);
      const pem = name.endsWith('.pem');
      const id = pem ? name.slice(0, -4) : name;
      const publisher = /^[a-z0-9-]{1,64}$/.test(id) ? byIssuer(id) : null;
      if (!publisher) throw new CaError('not-found', `no issuer "${id}" with a CRL`);
      send(req, res, pem, publisher);
    });
  }
  return router;
}
