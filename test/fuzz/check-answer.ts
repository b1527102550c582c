import { DerError, readTlv } from '../../src/domain/der';
import { refusedByHttpParser, type Answer, type BadRequest, type OcspRejection } from './request-case';

/**
 * The invariants every answer to a bad request keeps. Returns what is wrong (empty: the answer is right).
 *
 * - A 4xx application/problem+json whose JSON has a `urn:mtls-ca:problem:` type, a title and the HTTP
 *   status; never a 5xx, never a 2xx (no generated request is valid), never a hang (the sender's job).
 * - OCSP endpoints answer 200 application/ocsp-response with the expected unsuccessful status instead.
 * - Bodies carry no stack trace, no server path, no secret (`secrets`: the token, the data directory…),
 *   and a problem document stays small whatever the request echoed.
 * - Request limits may refuse a request first, whatever else is wrong with it: 429 always, 413 for a
 *   body, 414 for a URL and 431 for a head large enough to pass a configured limit (the smallest the
 *   configuration allows: MAX_BODY_BYTES 1024, MAX_URL_LENGTH 64, MAX_HEADER_BYTES 1024).
 */
export function checkAnswer(request: BadRequest, answer: Answer, options: { secrets?: readonly string[] } = {}): string[] {
  const violations: string[] = [];
  const limitStatuses = limitStatusesFor(request);
  const contentType = String(answer.headers['content-type'] ?? '');
  const isOcspAnswer = request.expect.kind === 'ocsp' && answer.status === 200;

  if (isOcspAnswer) {
    violations.push(...checkOcspAnswer(request.expect.statuses as readonly OcspRejection[], contentType, answer.body));
  } else {
    // Bytes Node's HTTP parser refuses never reach a route: the server's clientError handler answers 400.
    const expected = refusedByHttpParser(request) ? [400] : request.expect.kind === 'problem' ? request.expect.statuses : [];
    if (answer.status < 400 || answer.status > 499) {
      violations.push(`status ${answer.status}, expected a 4xx`);
    } else if (expected !== undefined && !expected.includes(answer.status) && !limitStatuses.includes(answer.status)) {
      violations.push(`status ${answer.status}, expected ${[...expected, ...limitStatuses].join(' or ')}`);
    }
    violations.push(...checkProblem(answer.status, contentType, answer.body));
  }
  violations.push(...checkLeaks(answer, options.secrets ?? []));
  return violations;
}

/** Answers a request limit may give this request before anything else looks at it. */
export function limitStatusesFor(request: BadRequest): number[] {
  const statuses = [429];
  if ((request.body?.length ?? 0) > 1024) statuses.push(413);
  if (request.path.length > 64) statuses.push(414);
  const head = request.path.length + Object.entries(request.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  if (head > 1024) statuses.push(431);
  return statuses;
}

const MAX_PROBLEM_BYTES = 16 * 1024;

function checkProblem(status: number, contentType: string, body: Buffer): string[] {
  if (!/^application\/problem\+json\s*(;|$)/i.test(contentType)) return [`Content-Type "${contentType}", expected application/problem+json`];
  if (body.length > MAX_PROBLEM_BYTES) return [`problem document of ${body.length} bytes (more than ${MAX_PROBLEM_BYTES})`];
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return ['problem body is not JSON'];
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return ['problem body is not a JSON object'];
  const p = doc as Record<string, unknown>;
  const out: string[] = [];
  if (typeof p.type !== 'string' || !/^urn:mtls-ca:problem:[a-z-]+$/.test(p.type)) out.push(`problem type ${JSON.stringify(p.type)}`);
  if (typeof p.title !== 'string' || p.title.length === 0) out.push('problem has no title');
  if (p.status !== status) out.push(`problem status ${JSON.stringify(p.status)} differs from HTTP ${status}`);
  if (p.detail !== undefined && typeof p.detail !== 'string') out.push('problem detail is not a string');
  return out;
}

const OCSP_STATUS_CODES: Record<number, string> = {
  0: 'successful',
  1: 'malformedRequest',
  2: 'internalError',
  3: 'tryLater',
  5: 'sigRequired',
  6: 'unauthorized',
};

/** The responseStatus of an OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT OPTIONAL }; null if it is not one. */
export function ocspStatusOf(body: Buffer): string | null {
  try {
    const outer = readTlv(body, 0);
    const inner = readTlv(body, outer.contentStart, outer.end);
    if (outer.tag !== 0x30 || outer.end !== body.length || inner.tag !== 0x0a || inner.end - inner.contentStart !== 1) return null;
    return OCSP_STATUS_CODES[body[inner.contentStart]] ?? `code ${body[inner.contentStart]}`;
  } catch (e) {
    if (e instanceof DerError) return null;
    throw e;
  }
}

function checkOcspAnswer(expected: readonly OcspRejection[], contentType: string, body: Buffer): string[] {
  if (!/^application\/ocsp-response\s*(;|$)/i.test(contentType)) return [`Content-Type "${contentType}", expected application/ocsp-response`];
  const status = ocspStatusOf(body);
  if (status === null) return ['the OCSP answer is not an OCSPResponse'];
  return expected.includes(status as OcspRejection) ? [] : [`OCSP responseStatus ${status}, expected ${expected.join(' or ')}`];
}

/** A V8 stack frame, or a path into the server's own files. */
const STACK_FRAME = /\n\s+at \S|\bat (?:async )?[\w.$<>[\]]+ \((?:\/|node:|[A-Za-z]:\\)[^)]*:\d+:\d+\)|node:internal|\/node_modules\/|\.[cm]?[jt]s:\d+:\d+/;

function checkLeaks(answer: Answer, secrets: readonly string[]): string[] {
  const text = answer.body.toString('latin1');
  const out: string[] = [];
  if (STACK_FRAME.test(text)) out.push('the body shows a stack trace or a source path');
  for (const secret of secrets) {
    if (secret.length >= 8 && text.includes(secret)) out.push(`the body contains the secret ${secret.slice(0, 4)}…`);
  }
  return out;
}
