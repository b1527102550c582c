import http from 'node:http';
import type { Duplex } from 'node:stream';

/** The gateway's refusals: each reason has one status and one problem type (`urn:mtls-ca:problem:<kind>`). */
export const GATEWAY_PROBLEMS = {
  'invalid-request': 400,
  'invalid-request-target': 400,
  'invalid-host': 400,
  'client-certificate-required': 401,
  'client-certificate-rejected': 401,
  'account-not-allowed': 403,
  'path-not-allowed': 403,
  'method-not-allowed': 405,
  'request-timeout': 408,
  'header-fields-too-large': 431,
  'gateway-error': 502,
  'upstream-unavailable': 502,
  'revocation-status-unknown': 503,
  'upstream-timeout': 504,
} as const;
export type GatewayProblem = keyof typeof GATEWAY_PROBLEMS;

function problemBody(kind: GatewayProblem, detail: string): { status: number; body: string } {
  const status = GATEWAY_PROBLEMS[kind];
  return { status, body: JSON.stringify({ type: `urn:mtls-ca:problem:${kind}`, title: http.STATUS_CODES[status], status, detail }) };
}

export function refuse(res: http.ServerResponse, kind: GatewayProblem, detail: string): void {
  const { status, body } = problemBody(kind, detail);
  res.writeHead(status, { 'Content-Type': 'application/problem+json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** For a socket the HTTP server no longer answers on (a malformed request, CONNECT): one answer, then close. */
export function refuseOnSocket(socket: Duplex, kind: GatewayProblem, detail: string, extra = ''): void {
  const { status, body } = problemBody(kind, detail);
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
}
