import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, Request } from 'express';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { CaError } from '../domain/errors';
import type { CrlPublisher } from '../services/crl-publisher';
import type { OcspResponder } from '../services/ocsp-responder';
import { writeProblem } from './problem';
import { recordAnswer, requestIdOf } from './request-context';
import { setSecurityHeaders } from './security-headers';
import { armDeadline, type RequestLimits } from './request-limits';
import type { RequestRecorder } from './request-metrics';
import { crlMaxAge, sendCrl } from './routes/crl';
import { ocspGetRequest, sendOcsp } from './routes/ocsp';

export interface HotRoutesDeps {
  /** POST routes answered by their own handler chain (directChain), by exact path. */
  readonly posts: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void>;
  readonly crl: { readonly publisher: CrlPublisher; readonly clock: Clock; readonly maxAgeSeconds: number };
  readonly ocsp: Pick<OcspResponder, 'respond'>;
  readonly logger: Logger;
  readonly metrics?: RequestRecorder;
  readonly limits?: RequestLimits;
  /** The client address as Express tells it (TRUST_PROXY), for the access log line. */
  readonly clientIp: (req: IncomingMessage) => string | undefined;
}

type Handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/**
 * The public, unauthenticated routes relying parties poll hardest — GET /crl, GET /crl.pem and
 * GET /ocsp/{request} — answered straight from node:http, ahead of Express's router and middleware
 * chain, with what that chain would do for them: request metrics, security headers, X-Request-Id, the
 * request's logger and access log line, the URL-length and body-size limits (a request over them goes
 * to Express, which refuses it) and the request deadline. Everything else, and every case these do not
 * answer themselves (no CRL published yet, another spelling of the path), goes to Express. POSTs to
 * the exact paths in `posts` (signing) go to their own chain of the app's handlers (directChain).
 */
export function withHotRoutes(app: Express, deps: HotRoutesDeps): void {
  // An Express app is `(req, res, next) => app.handle(req, res, next)`: the hot routes go in front of handle.
  const target = app as unknown as { handle: Handle };
  const handle = target.handle.bind(app) as Handle;
  const { limits, logger } = deps;
  const logging = () => logger.isLevelEnabled('info');
  target.handle = (req, res, next) => {
    const url = req.url ?? '';
    if (req.method === 'POST') {
      const post = deps.posts.get(url);
      return post ? post(req, res) : handle(req, res, next);
    }
    if (req.method !== 'GET' || (limits && (url.length > limits.maxUrlLength || Number(req.headers['content-length'] ?? 0) > limits.maxBodyBytes))) {
      return handle(req, res, next);
    }
    if (url === '/crl' || url === '/crl.pem') {
      const crl = deps.crl.publisher.current();
      if (!crl) return handle(req, res, next); // Express answers not-ready
      frame(deps, req, res, url, url, logging());
      sendCrl(res, crl, url === '/crl.pem', req.headers['if-none-match'], crlMaxAge(crl, deps.crl.clock, deps.crl.maxAgeSeconds));
      return;
    }
    if (url.startsWith('/ocsp/') && url.length > 6 && url[6] !== '?') {
      const requestId = frame(deps, req, res, '/ocsp/:request', url.split('?')[0], logging());
      void answerOcsp(deps, req, res, url.slice(6), requestId);
      return;
    }
    handle(req, res, next);
  };
}

/** What the app's first middleware do for every request; returns the request id. */
function frame(deps: HotRoutesDeps, req: IncomingMessage, res: ServerResponse, route: string, path: string, logging: boolean): string {
  const started = process.hrtime.bigint();
  setSecurityHeaders(res);
  const requestId = requestIdOf(req.headers['x-request-id']);
  res.setHeader('X-Request-Id', requestId);
  if (deps.metrics || logging) {
    res.on('finish', () => recordAnswer(deps, { requestId, method: req.method ?? 'GET', route, path, status: res.statusCode, started, ip: () => deps.clientIp(req) }));
  }
  return requestId;
}

async function answerOcsp(deps: HotRoutesDeps, req: IncomingMessage, res: ServerResponse, rest: string, requestId: string): Promise<void> {
  // The request deadline, as requestLimits sets it: an answer not ready in time (the ledger is slow) is a 503.
  const timer = deps.limits ? armDeadline(req, res, deps.limits.requestTimeoutMs, (problem) => writeProblem(res, problem)) : undefined;
  const log = deps.logger.child({ requestId });
  try {
    const der = await deps.ocsp.respond(ocspGetRequest(rest), log);
    if (!res.headersSent) sendOcsp(res, der);
  } catch (err) {
    // respond() answers every failure itself (tryLater); this is the problem handler's 500, should it ever throw.
    log.error({ err, kind: 'internal' }, 'request failed');
    if (!res.headersSent) writeProblem(res, new CaError('internal', 'an internal error occurred'));
  } finally {
    clearTimeout(timer);
  }
}

/** Express's `req.ip` (its "trust proxy" setting applied) for a request Express did not handle. */
export function expressClientIp(app: Express): (req: IncomingMessage) => string | undefined {
  return (req) => (Object.assign(Object.create(app.request) as Request, { socket: req.socket, headers: req.headers }) as Request).ip;
}
