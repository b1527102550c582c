import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface GracefulServer {
  /**
   * Stops accepting at once, lets requests in flight finish for up to `timeoutMs`, then cuts the
   * connections still open. Answers still to be written say `Connection: close`, so clients do not reuse
   * the socket, and keep-alive connections close as soon as they fall idle (not after the keep-alive
   * timeout). Resolves when every connection is gone; `forced` when some had to be cut.
   */
  close(timeoutMs: number): Promise<{ forced: boolean }>;
}

/** Tracks the answers in flight on `server` (call right after listen) so a stop can reach them. */
export function gracefulServer(server: Server): GracefulServer {
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  const sayClose = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) return sayClose(res);
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  return {
    close(timeoutMs) {
      closing = true;
      inFlight.forEach(sayClose);
      return new Promise((resolve) => {
        let forced = false;
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
    },
  };
}
