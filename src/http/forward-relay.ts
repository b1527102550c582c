import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { CaError } from '../domain/errors';
import { OutboundError } from '../outbound/outbound-error';
import { answerHeaders, type Forwarded } from '../services/forwarder';

/** Passes the target's answer on as is (status, headers minus hop-by-hop, body streamed). */
export async function relayAnswer(res: ServerResponse, forwarded: Forwarded): Promise<void> {
  const { answer } = forwarded;
  try {
    res.writeHead(answer.statusCode, answerHeaders(answer.headers));
    await pipeline(answer.body, res);
  } catch {
    // the target or the caller went away mid-answer: nothing more can be said to the caller
    answer.body.destroy();
    res.destroy();
  } finally {
    forwarded.release();
  }
}

/**
 * A forwarding failure as a problem: transport failures (OutboundError) become 502/504 (403 for a
 * prohibited address) and set RFC 9209 Proxy-Status on `res`; a CaError carrying a proxyStatus
 * extension (no route) sets it too.
 */
export function forwardProblem(err: unknown, res: Pick<ServerResponse, 'setHeader' | 'headersSent'>, proxyName: string): unknown {
  if (err instanceof OutboundError) {
    if (!res.headersSent) res.setHeader('Proxy-Status', err.proxyStatus(proxyName));
    return err.toCaError();
  }
  if (err instanceof CaError && typeof err.extensions.proxyStatus === 'string' && !res.headersSent) {
    res.setHeader('Proxy-Status', `${proxyName}; error=${err.extensions.proxyStatus}`);
  }
  return err;
}
