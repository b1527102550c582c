import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { CaError, errorKinds, type ErrorKind } from '../domain/errors';

export const PROBLEM_TYPE_BASE = 'urn:mtls-ca:problem:';

const TITLES: Record<ErrorKind, string> = {
  'invalid-request': 'Invalid request',
  'malformed-csr': 'Malformed certificate request',
  'not-a-csr': 'Not a certificate request',
  'csr-signature-invalid': 'Certificate request signature invalid',
  'weak-csr-signature': 'Certificate request signature algorithm not accepted',
  'subject-not-allowed': 'Subject not allowed',
  'key-not-allowed': 'Public key not allowed',
  'invalid-serial-number': 'Invalid serial number',
  'invalid-revocation-reason': 'Invalid revocation reason',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  'account-mismatch': 'Account mismatch',
  'not-found': 'Not found',
  'method-not-allowed': 'Method not allowed',
  'not-acceptable': 'Not acceptable',
  'request-timeout': 'Request timeout',
  'uri-too-long': 'URI too long',
  'header-fields-too-large': 'Request header fields too large',
  'deadline-exceeded': 'Request took too long',
  conflict: 'Conflict',
  'payload-too-large': 'Payload too large',
  'unsupported-media-type': 'Unsupported media type',
  'invalid-pkcs12': 'PKCS#12 file cannot be read',
  'too-many-requests': 'Too many requests',
  internal: 'Internal server error',
  'bad-gateway': 'Bad gateway',
  'gateway-timeout': 'Gateway timeout',
  'ledger-unavailable': 'Ledger unavailable',
  'not-ready': 'Service not ready',
};

/** The RFC 9457 document of an error, with the status and extra headers to answer it with. */
export function problemDocument(error: CaError, instance?: string): { status: number; headers: Record<string, string>; body: string } {
  const status = errorKinds[error.kind];
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json; charset=utf-8' };
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  const body = JSON.stringify({
    type: `${PROBLEM_TYPE_BASE}${error.kind}`,
    title: TITLES[error.kind],
    status,
    detail: error.detail,
    ...(instance ? { instance } : {}),
    ...error.extensions,
  });
  return { status, headers, body };
}

/** The same answer written with node:http alone (for the routes answered before Express). */
export function writeProblem(res: ServerResponse, error: CaError): void {
  const { status, headers, body } = problemDocument(error);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

export function sendProblem(res: Response, error: CaError, instance?: string): void {
  const { status, headers, body } = problemDocument(error, instance);
  res.status(status).set(headers).send(body);
}

/** Errors thrown by body parsers (http-errors from express/body-parser). */
function fromParserError(err: { type?: string; status?: number; statusCode?: number }): CaError | null {
  switch (err.type) {
    case 'entity.too.large':
      return new CaError('payload-too-large', 'the request body is larger than this endpoint accepts');
    case 'entity.parse.failed':
      return new CaError('invalid-request', 'the request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new CaError('unsupported-media-type', 'the request body has an unsupported charset or content encoding');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'stream.not.readable':
      return new CaError('invalid-request', 'the request body could not be read');
    default: {
      const status = err.status ?? err.statusCode;
      if (status && status >= 400 && status < 500) return new CaError('invalid-request', 'the request could not be read');
      return null;
    }
  }
}

/** The one place errors become RFC 9457 problem+json. A 500 never carries internal detail. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = err instanceof CaError ? err : fromParserError(err) ?? new CaError('internal', 'an internal error occurred');
    const log = (res.locals.logger as Logger | undefined) ?? logger.child({ requestId: res.locals.requestId as string | undefined });
    if (error.status >= 500) {
      log.error({ err: err instanceof CaError ? (err.cause ?? err) : err, kind: error.kind }, 'request failed');
    } else {
      log.info({ kind: error.kind, detail: error.detail }, 'request rejected');
    }
    res.locals.problemKind = error.kind; // for the audit of failed requests
    if (res.headersSent) return;
    sendProblem(res, error);
  };
}
