import type { Request, RequestHandler, Response } from 'express';

/** The label of a request that no route matched (unknown paths, wrong methods): never the raw path. */
export const UNMATCHED = 'unmatched';

/**
 * Records the pattern of the route that handles this request (`/private-certificates/:serialNumber`),
 * for metrics. Express sets `req.route` when a route matches, while `req.baseUrl` is still the mount
 * path of the router holding it; by the time the answer is sent (an error handled at the app level)
 * the router has restored `baseUrl`, so the pattern is taken at that moment.
 */
export function trackRoutePattern(req: Request, res: Response): void {
  let route: unknown;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value;
      if (value && typeof value.path === 'string') setRoutePattern(res, joinPath(req.baseUrl, value.path));
    },
  });
}

/** For handlers mounted with `use()` rather than as routes (they have no `req.route`). */
export function setRoutePattern(res: Response, pattern: string): void {
  res.locals.routePattern = pattern;
}

/** Middleware that marks the request as handled by the route `pattern` (where the router would set req.route). */
export function routePattern(pattern: string): RequestHandler {
  return (_req, res, next) => {
    setRoutePattern(res, pattern);
    next();
  };
}

export function routePatternOf(res: Response): string {
  const pattern = res.locals.routePattern;
  return typeof pattern === 'string' ? pattern : UNMATCHED;
}

function joinPath(base: string, path: string): string {
  const joined = path === '/' && base !== '' ? base : `${base}${path}`;
  return joined === '' ? '/' : joined;
}
