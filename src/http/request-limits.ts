import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { CaError } from '../domain/errors';
import { sendProblem } from './problem';

export interface RequestLimits {
  /** Largest request body accepted anywhere (each route may accept less). */
  readonly maxBodyBytes: number;
  /** Longest request target (path + query). */
  readonly maxUrlLength: number;
  /** Deepest nesting of a JSON body. */
  readonly maxJsonDepth: number;
  /** Whole-request time limit: receiving it and answering it. */
  readonly requestTimeoutMs: number;
}

/** Largest refused body still read and discarded (see requestLimits). */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/** The limits every request meets before any route sees it: URL length, declared body size, time. */
export function requestLimits(limits: RequestLimits): RequestHandler {
  return (req, res, next) => {
    if (req.originalUrl.length > limits.maxUrlLength) {
      throw new CaError('uri-too-long', `the request URL is longer than ${limits.maxUrlLength} characters`);
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
      // Answer at once, before the body is read. Up to DRAIN_LIMIT Node reads and discards the rest
      // after the answer (keep-alive), so the client surely gets its 413: closing a socket with unread
      // data resets it, and a reset can destroy the answer in the client's buffer. Beyond that the
      // connection is closed instead (an abusive length is not worth reading).
      if (Number(declared) > DRAIN_LIMIT) res.setHeader('Connection', 'close');
      throw new CaError('payload-too-large', `the request body is larger than ${limits.maxBodyBytes} bytes`);
    }
    const timer = armDeadline(req, res, limits.requestTimeoutMs, (problem) => sendProblem(res, problem, undefined));
    res.once('close', () => clearTimeout(timer));
    res.once('finish', () => clearTimeout(timer));
    res.locals.limits = limits;
    next();
  };
}

/**
 * The request deadline: a request still unanswered after `ms` gets `answer(problem)` on a closing
 * connection — 408 when the client had not finished sending, 503 when the service was the slow one.
 * Whatever finishes later is discarded. The caller clears the returned timer once the answer is out.
 */
export function armDeadline(req: IncomingMessage, res: ServerResponse, ms: number, answer: (problem: CaError) => void): NodeJS.Timeout {
  const timer = setTimeout(() => {
    if (res.headersSent || res.writableEnded) return;
    res.setHeader('Connection', 'close');
    answer(deadlineProblem(req.complete));
  }, ms);
  timer.unref();
  return timer;
}

/** The limits in force for this request (set by requestLimits; absent in apps built without them). */
export function limitsOf(res: { locals: Record<string, unknown> }): RequestLimits | undefined {
  return res.locals.limits as RequestLimits | undefined;
}

/**
 * Depth of the deepest array/object nesting in a JSON text, stopping early once over `max`. Scans the
 * text (strings skipped) before parsing, so a hostile body costs one linear pass and nothing more.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** The answer to a request unanswered at REQUEST_TIMEOUT_MS: 503 when the service was slow, 408 when the client had not finished sending. */
export function deadlineProblem(requestComplete: boolean): CaError {
  return requestComplete
    ? new CaError('deadline-exceeded', 'the service could not answer in time; try again', { retryAfterSeconds: 1 })
    : new CaError('request-timeout', 'the request was not received in time');
}
