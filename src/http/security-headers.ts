import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/** Security headers on every answer (an API: no framing, no sniffing, no referrer, strict CSP). */
export const securityHeaders: RequestHandler = helmet({ contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } });

/**
 * The headers `securityHeaders` sets, in order, taken once by running it against a recording response
 * (helmet's headers do not depend on the request), for answers written without Express.
 */
export function securityHeaderList(): ReadonlyArray<readonly [string, string]> {
  const headers: Array<[string, string]> = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => void headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  let done = false;
  securityHeaders({} as IncomingMessage as never, recorder as unknown as ServerResponse as never, () => (done = true));
  if (!done) throw new Error('the security headers middleware did not finish synchronously');
  return headers;
}
