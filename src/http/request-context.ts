import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { RequestRecorder } from './request-metrics';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request's id: the client's X-Request-Id when well-formed, else a fresh UUID. */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The access log line of an answered request (at info). */
export function logAnswered(
  logger: Logger,
  line: { requestId: string; method: string | undefined; path: string; status: number; started: bigint; ip: string | undefined },
): void {
  const ms = Number(process.hrtime.bigint() - line.started) / 1e6;
  logger.info({ requestId: line.requestId, method: line.method, path: line.path, status: line.status, ms, ip: line.ip }, 'request');
}

/**
 * What an answered request leaves behind when it was answered outside the Express chain: its request
 * metrics by route (when metrics are on) and its access log line (at info; `ip` is asked only then).
 */
export function recordAnswer(
  deps: { readonly logger: Logger; readonly metrics?: RequestRecorder },
  a: { requestId: string; method: string; route: string; path: string; status: number; started: bigint; ip: () => string | undefined },
): void {
  deps.metrics?.observeRequest(a.method, a.route, a.status, Number(process.hrtime.bigint() - a.started) / 1e9);
  if (deps.logger.isLevelEnabled('info')) {
    logAnswered(deps.logger, { requestId: a.requestId, method: a.method, path: a.path, status: a.status, started: a.started, ip: a.ip() });
  }
}

/**
 * X-Request-Id on every answer, the request's logger (every line it writes carries the id) in
 * res.locals.logger, and one access log line per answered request.
 */
export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const id = requestIdOf(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', id);
    res.locals.requestId = id;
    res.locals.logger = logger.child({ requestId: id });
    if (logger.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      res.on('finish', () => logAnswered(logger, { requestId: id, method: req.method, path: req.path, status: res.statusCode, started, ip: req.ip }));
    }
    next();
  };
}
