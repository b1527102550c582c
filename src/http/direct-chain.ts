import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, Request, RequestHandler, Response } from 'express';

/**
 * Runs a fixed list of Express middleware for a request whose route is known in advance, without the
 * router: what `app.handle` does before routing (Express's request and response prototypes, `locals`,
 * `req.res`/`res.req`), then each handler in turn as the router would call it (a thrown error or a
 * rejected promise goes to `onError`, the app's error handler). The handlers are the very ones the app
 * mounts for that route, so the answer is the same; only the walk through the other routes is skipped.
 */
export function directChain(app: Express, handlers: readonly RequestHandler[], onError: ErrorRequestHandler) {
  return (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    const { req, res } = asExpress(app, incoming, outgoing);
    let i = 0;
    const next = (err?: unknown): void => {
      if (err) {
        i = handlers.length;
        onError(err, req, res, () => undefined);
        return;
      }
      const handler = handlers[i++];
      if (!handler) return;
      try {
        const ret = handler(req, res, next) as unknown;
        if (ret instanceof Promise) ret.then(undefined, (e: unknown) => next(e ?? new Error('Rejected promise')));
      } catch (e) {
        next(e);
      }
    };
    next();
  };
}

/** What `app.handle` does to a request before routing: Express's request and response, `locals`, `req.res`/`res.req`. */
export function asExpress(app: Express, incoming: IncomingMessage, outgoing: ServerResponse): { req: Request; res: Response } {
  const req = incoming as Request;
  const res = outgoing as Response;
  req.res = res;
  res.req = req;
  Object.setPrototypeOf(req, app.request);
  Object.setPrototypeOf(res, app.response);
  res.locals ??= Object.create(null) as Record<string, unknown>;
  req.originalUrl ??= req.url;
  req.baseUrl = '';
  req.params = {};
  return { req, res };
}
