import type { Server } from 'node:http';

/**
 * Graceful stop of an HTTP server: stop accepting at once, let requests in flight finish for up to
 * `timeoutMs`, then cut the connections still open. Keep-alive connections are closed as soon as they
 * fall idle (not after the keep-alive timeout), and any request still arriving on one is answered
 * with `Connection: close`. Resolves when every connection is gone.
 */
export function closeServer(server: Server, timeoutMs: number): Promise<{ forced: boolean }> {
  return new Promise((resolve) => {
    let forced = false;
    server.prependListener('request', (_req, res) => {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    });
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    const force = setTimeout(() => {
      forced = true;
      server.closeAllConnections();
    }, timeoutMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(force);
      resolve({ forced });
    });
    server.closeIdleConnections();
  });
}
