import { Agent, request as httpRequest } from 'node:http';
import type { Answer, BadRequest } from './request-case';

export interface Target {
  readonly host: string;
  readonly port: number;
  /** Keep-alive agent to reuse connections (optional). */
  readonly agent?: Agent;
}

/**
 * Sends a request over node:http with its request-target untouched (no URL normalisation) and
 * collects the whole answer. Rejects when no answer comes within `timeoutMs` (a hang is a failure).
 */
export function sendRequest(target: Target, req: BadRequest, timeoutMs = 15_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let responded = false;
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body !== undefined) headers['Content-Length'] = req.body.length;
    const outgoing = httpRequest(
      { host: target.host, port: target.port, method: req.method, path: req.path, headers, agent: target.agent ?? false },
      (res) => {
        responded = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', fail);
      },
    );
    const timer = setTimeout(() => {
      outgoing.destroy();
      fail(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
    }
    // The server may answer (413, 415…) and close before the whole body is sent: that answer still
    // counts, and it can arrive just after the write error.
    outgoing.on('error', (err: NodeJS.ErrnoException) => {
      if (responded) return;
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') return fail(err);
      setTimeout(() => responded || fail(new Error(`connection closed without an answer (${err.code})`)), 1000);
    });
    outgoing.end(req.body);
  });
}
