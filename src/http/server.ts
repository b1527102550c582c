import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { CaError } from '../domain/errors';
import { problemDocument } from './problem';
import type { RequestLimits } from './request-limits';

export interface HttpServerLimits extends RequestLimits {
  /** Largest request head (request line + headers) Node's parser accepts; beyond it: 431. */
  readonly maxHeaderBytes: number;
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' };

/** Errors Node's HTTP parser raises before Express sees the request, as problems. */
function problemForClientError(code: string | undefined): CaError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new CaError('header-fields-too-large', 'the request headers are larger than this service accepts');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new CaError('request-timeout', 'the request was not received in time');
    case 'HPE_URI_TOO_LONG':
      return new CaError('uri-too-long', 'the request URL is too long');
    default:
      return new CaError('invalid-request', 'the request is not valid HTTP/1.1');
  }
}

/**
 * The node:http server for the app, with the request limits enforced at the socket: header size,
 * time to receive the headers and the whole request (slow clients get 408, not a held connection).
 * Errors the HTTP parser raises before Express runs are answered as problem+json too.
 */
export function createHttpServer(app: Express, limits: HttpServerLimits, logger?: Logger): Server {
  return answerClientErrors(createServer(serverOptions(limits), app), logger);
}

function serverOptions(limits: HttpServerLimits) {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.requestTimeoutMs, 10_000),
    // How often Node checks the two timeouts above (its default, 30 s, would make them coarse).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))),
    keepAliveTimeout: 5000,
  };
}

/**
 * The same app over TLS (HTTPS_PORT), with the same limits. It asks every client for a certificate but
 * requires none and lets any through the handshake (requestCert, rejectUnauthorized false): only
 * renewal uses it, and checks the chain, the time and the ledger itself (an expired certificate inside
 * RENEW_AFTER_EXPIRY must still reach it). `tls.onChange` swaps in a renewed server certificate.
 */
export function createHttpsServer(
  app: Express,
  limits: HttpServerLimits,
  tls: { credentials: { key: string; cert: string }; onChange(listener: (c: { key: string; cert: string }) => void): void },
  logger?: Logger,
): HttpsServer {
  const server = createTlsServer({ ...serverOptions(limits), ...tls.credentials, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, app);
  tls.onChange((credentials) => server.setSecureContext({ ...credentials, minVersion: 'TLSv1.2' }));
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => logger?.debug({ code: err.code }, 'TLS handshake failed'));
  return answerClientErrors(server, logger);
}

function answerClientErrors<S extends Server>(server: S, logger?: Logger): S {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, headers, body } = problemDocument(problemForClientError(err.code));
    logger?.info({ code: err.code, status }, 'request rejected by the HTTP parser');
    const head = [`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    head.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', '');
    socket.end(head.join('\r\n') + body);
  });
  return server;
}
