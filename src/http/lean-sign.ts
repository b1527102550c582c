import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express } from 'express';
import type { Logger } from 'pino';
import { MAX_CSR_BYTES } from '../domain/csr-policy';
import { CaError } from '../domain/errors';
import type { Principal } from '../domain/permissions';
import type { AuditTrail } from '../services/audit-trail';
import type { KeyService } from '../services/key-service';
import type { RateLimiter, RateRule } from '../services/rate-limiter';
import type { SigningService } from '../services/signing-service';
import { recordIfFailed, tagAudited } from './audit';
import { checkPermission, credentialsOf } from './auth';
import { asExpress } from './direct-chain';
import { checkContentType } from './media';
import { writeProblem } from './problem';
import { takeClientIpLimit } from './rate-limit';
import { recordAnswer, requestIdOf } from './request-context';
import { armDeadline, type RequestLimits } from './request-limits';
import type { RequestRecorder } from './request-metrics';
import { CSR_CONTENT_TYPES } from './routes/sign';
import { SECURITY_HEADERS, setSecurityHeaders } from './security-headers';
import { issuedAnswer } from './views';

export interface LeanSignDeps {
  readonly app: Express;
  readonly keys: KeyService;
  readonly signing: SigningService;
  readonly audit: AuditTrail;
  readonly chainPem: () => string;
  readonly logger: Logger;
  readonly metrics?: RequestRecorder;
  readonly limits?: RequestLimits;
  readonly signRateLimit?: { limiter: RateLimiter; rule: RateRule };
  /** The client address as Express tells it (TRUST_PROXY). */
  readonly clientIp: (req: IncomingMessage) => string | undefined;
  /** The app's problem handler (the one place errors become problem+json). */
  readonly problems: ErrorRequestHandler;
}

/** SECURITY_HEADERS as writeHead's flat list of names and values. */
const SECURITY_HEADER_LIST: readonly string[] = SECURITY_HEADERS.flat();

/** The Accept values the lean path answers itself (what clients send: none, curl's, or one type), and what each chooses. */
const FORMATS = new Map<string | undefined, string>([
  [undefined, 'text/plain'],
  ['*/*', 'text/plain'],
  ['text/plain', 'text/plain'],
  ['application/x-pem-file', 'application/x-pem-file'],
  ['application/json', 'application/json'],
]);

/**
 * POST /private-certificates/sign answered from node:http, without Express's request and response
 * objects, body parser or middleware chain, and with the same answer: the signing chain's security
 * headers, X-Request-Id, `Cache-Control: no-store`, metrics, access log, deadline, per-IP limit,
 * authentication, permission, Content-Type check, audit of failures, problem+json (through the app's
 * own problem handler). A request it does not take whole — no or too large Content-Length, a
 * Content-Encoding, an Accept header other than the common ones, missing credentials — goes, unread,
 * to `fallback` (the app's chain), which answers or refuses it as it always has.
 */
export function leanSign(deps: LeanSignDeps, route: string, fallback: (req: IncomingMessage, res: ServerResponse) => void) {
  const bodyCap = Math.min(MAX_CSR_BYTES, deps.limits?.maxBodyBytes ?? MAX_CSR_BYTES);
  return (req: IncomingMessage, res: ServerResponse): void => {
    const headers = req.headers;
    const length = Number(headers['content-length']);
    const format = FORMATS.get(headers.accept);
    if (
      format === undefined ||
      !(length > 0 && length <= bodyCap) ||
      headers['content-encoding'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      headers['x-api-appkey'] === undefined
    ) {
      fallback(req, res);
      return;
    }
    answer(deps, route, req, res, format, length).catch((err: unknown) => {
      // answer() hands its failures to the problem handler; this is the last resort should that throw.
      deps.logger.error({ err, kind: 'internal' }, 'request failed');
      if (!res.headersSent) writeProblem(res, new CaError('internal', 'an internal error occurred'));
    });
  };
}

async function answer(deps: LeanSignDeps, route: string, req: IncomingMessage, res: ServerResponse, format: string, length: number): Promise<void> {
  const started = process.hrtime.bigint();
  const requestId = requestIdOf(req.headers['x-request-id']);
  const ip = deps.clientIp(req);
  let principal: Principal | undefined;
  let timer: NodeJS.Timeout | undefined;
  // The headers of every answer; a success writes them in one go with its own (writeHead below).
  const frameHeaders = () => {
    setSecurityHeaders(res);
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('Cache-Control', 'no-store');
  };
  res.once('finish', () => {
    clearTimeout(timer);
    recordAnswer(deps, { requestId, method: 'POST', route, path: route, status: res.statusCode, started, ip: () => ip });
    if (res.statusCode >= 400) recordIfFailed(deps, ...expressShaped(deps, req, res, requestId, principal));
  });
  res.once('close', () => clearTimeout(timer));
  if (deps.limits) {
    timer = armDeadline(req, res, deps.limits.requestTimeoutMs, (problem) => {
      frameHeaders();
      writeProblem(res, problem);
    });
  }
  try {
    if (deps.signRateLimit) await takeClientIpLimit(deps.signRateLimit.limiter, deps.signRateLimit.rule, ip ?? req.socket.remoteAddress ?? 'unknown');
    const { appKey, appToken } = credentialsOf(req.headers);
    principal = await deps.keys.authenticate(appKey, appToken, ip);
    checkPermission(principal, 'certificates:sign');
    checkContentType(req.headers['content-type'], CSR_CONTENT_TYPES);
    const body = await readBody(req, length);
    // The client left mid-body: nobody to answer, but the log says so (as the chain's body parser does).
    if (body === null) throw new CaError('invalid-request', 'the request body could not be read');
    if (res.headersSent) return; // the deadline answered: nothing is issued
    const issued = await deps.signing.sign(principal, body, { requestId, clientIp: ip ?? null });
    if (res.headersSent) return;
    const { headers, body: text } = issuedAnswer(format, issued, deps.chainPem());
    res.writeHead(200, [
      ...SECURITY_HEADER_LIST,
      'X-Request-Id', requestId,
      'Cache-Control', 'no-store',
      'Location', headers.Location,
      'Vary', headers.Vary,
      'Content-Type', headers['Content-Type'],
      'Content-Length', String(Buffer.byteLength(text)),
    ]);
    res.end(text);
  } catch (err) {
    // Past the deadline's answer the error is still logged (the problem handler sends nothing then).
    if (!res.headersSent) frameHeaders();
    const [ereq, eres] = expressShaped(deps, req, res, requestId, principal);
    deps.problems(err, ereq, eres, () => undefined);
  }
}

/** The request and response as the app's chain would have them at this point (for the problem handler and the audit). */
function expressShaped(deps: LeanSignDeps, req: IncomingMessage, res: ServerResponse, requestId: string, principal: Principal | undefined) {
  const shaped = asExpress(deps.app, req, res);
  const locals = shaped.res.locals;
  if (locals.requestId === undefined) {
    locals.requestId = requestId;
    locals.routePattern = req.url;
    if (deps.limits) locals.limits = deps.limits;
    tagAudited(shaped.res, { action: 'certificate.sign' });
  }
  if (principal) locals.principal = principal;
  return [shaped.req, shaped.res] as const;
}

/**
 * The body, exactly `length` bytes (Node's parser holds the request to its Content-Length); null when
 * the client goes away first.
 */
function readBody(req: IncomingMessage, length: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const body = Buffer.allocUnsafe(length);
    let at = 0;
    const onData = (chunk: Buffer) => {
      at += chunk.copy(body, at);
    };
    const done = (value: Buffer | null) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAbort);
      req.off('error', onAbort);
      resolve(value);
    };
    const onEnd = () => done(at === length ? body : body.subarray(0, at));
    const onAbort = () => done(null);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAbort);
    req.on('error', onAbort);
  });
}
