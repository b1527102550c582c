import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { CaError } from '../domain/errors';
import { hasPermission, type Permission, type Principal } from '../domain/permissions';
import type { KeyService } from '../services/key-service';

/** Header names; the X-VTEX-API-* spellings are accepted too, for integrators moving from that platform. */
const KEY_HEADERS = ['x-api-appkey', 'x-vtex-api-appkey'];
const TOKEN_HEADERS = ['x-api-apptoken', 'x-vtex-api-apptoken'];

function header(headers: IncomingHttpHeaders, names: string[]): string | undefined {
  for (const name of names) {
    const value = headers[name];
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/** The API key a request names, authenticated or not (for the audit of failed authentication). */
export function claimedAppKey(req: Request): string | undefined {
  return header(req.headers, KEY_HEADERS);
}

export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new CaError('unauthorized', 'missing, unknown or wrong API credentials');
  return principal;
}

/** The API key pair a request presents; 401 when either is missing or longer than any key or token. */
export function credentialsOf(headers: IncomingHttpHeaders): { appKey: string; appToken: string } {
  const appKey = header(headers, KEY_HEADERS);
  const appToken = header(headers, TOKEN_HEADERS);
  if (!appKey || !appToken || appKey.length > 256 || appToken.length > 512) {
    throw new CaError('unauthorized', 'missing, unknown or wrong API credentials');
  }
  return { appKey, appToken };
}

/** 403 unless the principal holds `permission` (admins hold all; null: any key). */
export function checkPermission(principal: Principal, permission: Permission | null): void {
  if (permission !== null && !hasPermission(principal, permission)) {
    throw new CaError('forbidden', `this API key lacks the ${permission} permission`);
  }
}

/** Authenticates the API key pair; with `permission`, requires it too (admins hold all). */
export function requirePermission(keys: KeyService, permission: Permission | null): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const { appKey, appToken } = credentialsOf(req.headers);
    const principal = await keys.authenticate(appKey, appToken, req.ip);
    res.locals.principal = principal; // known even when refused below, so a refusal is audited with its actor
    checkPermission(principal, permission);
    next();
  };
}

/** Any valid API key, whatever it may do (e.g. asking what that is). */
export function requireAuthentication(keys: KeyService): RequestHandler {
  return requirePermission(keys, null);
}
