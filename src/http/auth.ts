import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { CaError } from '../domain/errors';
import { hasPermission, type Permission, type Principal } from '../domain/permissions';
import type { KeyService } from '../services/key-service';

/** Header names; the X-VTEX-API-* spellings are accepted too, for integrators moving from that platform. */
const KEY_HEADERS = ['x-api-appkey', 'x-vtex-api-appkey'];
const TOKEN_HEADERS = ['x-api-apptoken', 'x-vtex-api-apptoken'];

function header(req: Request, names: string[]): string | undefined {
  for (const name of names) {
    const value = req.headers[name];
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/** The API key a request names, authenticated or not (for the audit of failed authentication). */
export function claimedAppKey(req: Request): string | undefined {
  return header(req, KEY_HEADERS);
}

export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new CaError('unauthorized', 'missing, unknown or wrong API credentials');
  return principal;
}

/** Authenticates the API key pair; with `permission`, requires it too (admins hold all). */
export function requirePermission(keys: KeyService, permission: Permission | null): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const appKey = header(req, KEY_HEADERS);
    const appToken = header(req, TOKEN_HEADERS);
    if (!appKey || !appToken || appKey.length > 256 || appToken.length > 512) {
      throw new CaError('unauthorized', 'missing, unknown or wrong API credentials');
    }
    const principal = await keys.authenticate(appKey, appToken, req.ip);
    res.locals.principal = principal; // known even when refused below, so a refusal is audited with its actor
    if (permission !== null && !hasPermission(principal, permission)) {
      throw new CaError('forbidden', `this API key lacks the ${permission} permission`);
    }
    next();
  };
}

/** Any valid API key, whatever it may do (e.g. asking what that is). */
export function requireAuthentication(keys: KeyService): RequestHandler {
  return requirePermission(keys, null);
}
