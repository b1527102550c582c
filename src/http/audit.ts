import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { AuditAction, AuditDetails, AuditEvent, AuditOrigin } from '../domain/audit-event';
import type { Principal } from '../domain/permissions';
import { normalizeSerialNumber } from '../domain/serial-number';
import type { AuditTrail } from '../services/audit-trail';
import type { KeyService } from '../services/key-service';
import { claimedAppKey } from './auth';

/** The HTTP facts of an audited action: the request id and the client address (after TRUST_PROXY). */
export function auditOriginOf(req: Request, res: Response): AuditOrigin {
  return { requestId: (res.locals.requestId as string | undefined) ?? null, clientIp: req.ip ?? null };
}

/** An audited route: its action and, when the path names one, its target. */
interface AuditTag {
  readonly action: AuditAction;
  readonly serialNumber?: string | null;
  readonly details?: AuditDetails;
}

/**
 * Marks a route as an audited action so that its failed requests are recorded too (its successes are
 * recorded by the service, before the answer). Put it before authentication.
 */
export function audited(action: AuditAction, target?: (req: Request) => Omit<AuditTag, 'action'>): RequestHandler {
  return (req, res, next) => {
    tagAudited(res, { action, ...target?.(req) });
    next();
  };
}

/** Marks the request as the audited action `tag` (what `audited` does). */
export function tagAudited(res: Response, tag: AuditTag): void {
  res.locals.auditTag = tag;
}

/** The target of a route with a serial number in its path: canonical when it parses, else the raw input in the details. */
export function serialTarget(raw: unknown): Omit<AuditTag, 'action'> {
  const input = String(raw);
  try {
    return { serialNumber: normalizeSerialNumber(input) };
  } catch {
    return { serialNumber: null, details: { serialInput: input } };
  }
}

const pathOf = (req: Request) => req.originalUrl.split('?')[0];

/** A failed request as an audit event; null when it is not one the trail keeps. */
async function failureEvent(req: Request, res: Response, keys: KeyService): Promise<AuditEvent | null> {
  const status = res.statusCode;
  const tag = res.locals.auditTag as AuditTag | undefined;
  const principal = res.locals.principal as Principal | undefined;
  const base = { ...auditOriginOf(req, res), outcome: 'failure' as const, problem: (res.locals.problemKind as string | undefined) ?? `http-${status}` };
  const attempted = tag?.action ?? `${req.method} ${pathOf(req)}`;

  if (status === 401) {
    // Only attempts that name a key: anonymous requests stay in the request log.
    const claimed = claimedAppKey(req);
    if (claimed === undefined) return null;
    const account = await keys.accountOf(claimed).catch(() => null);
    // An unknown "key" may be a token pasted in the wrong header: keep only a fingerprint of it.
    return account !== null
      ? { ...base, action: 'auth.failure', actor: claimed, account, details: { attempted } }
      : { ...base, action: 'auth.failure', details: { attempted, claimedKeySha256: createHash('sha256').update(claimed).digest('hex').slice(0, 16) } };
  }
  if (tag) {
    return { ...base, action: tag.action, actor: principal?.appKey, account: principal?.account, serialNumber: tag.serialNumber, details: tag.details };
  }
  if (status === 403 && principal) {
    return { ...base, action: 'access.denied', actor: principal.appKey, account: principal.account, details: { attempted } };
  }
  return null;
}

/**
 * Records failed requests once they are answered (without delaying the answer): every failed
 * authentication, every refused request on an audited route, and permission refusals elsewhere.
 * 429s are left out (a flood must not become a flood of audit rows).
 */
export function recordFailedRequests(deps: { audit: AuditTrail; keys: KeyService }): RequestHandler {
  return (req, res, next) => {
    res.once('finish', () => recordIfFailed(deps, req, res));
    next();
  };
}

/** What recordFailedRequests does once a request is answered (for a request answered outside the chain). */
export function recordIfFailed(deps: { audit: AuditTrail; keys: KeyService }, req: Request, res: Response): void {
  if (res.statusCode < 400 || res.statusCode === 429) return;
  if (res.statusCode !== 401 && res.statusCode !== 403 && res.locals.auditTag === undefined) return;
  deps.audit.recordInBackground(failureEvent(req, res, deps.keys));
}
