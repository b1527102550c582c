import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { CaError } from '../domain/errors';
import { parseOutboundTarget } from '../domain/outbound-route';
import { hasPermission } from '../domain/permissions';
import { forwardProblem, relayAnswer } from '../http/forward-relay';
import { problemDocument } from '../http/problem';
import type { Forwarder } from '../services/forwarder';
import type { KeyService } from '../services/key-service';
import type { EgressConfig } from './egress-config';

const PROXY_NAME = 'mtls-ca-egress';

/**
 * The egress proxy (`mtls-ca egress`): a forward proxy for services that cannot change their code.
 *
 * - A request in absolute form, `GET http://partner.example:8443/x HTTP/1.1`, means "originate TLS with
 *   my account's identity to partner.example:8443 and send GET /x"; the `http://` only says the caller
 *   speaks plain HTTP to us. Port 443 unless written. CONNECT (a tunnel we could not present a client
 *   certificate in) is refused with 405, as is any other form of request target (400).
 * - `Proxy-Authorization: Basic base64(appKey:appToken)` (what `curl -x … -U appKey:appToken` sends)
 *   names the API key; it needs the `forward` permission. Missing or wrong: 407 with Proxy-Authenticate.
 * - Everything after is /forward's Forwarder: the account's routes (no route: 403), the SSRF rules, the
 *   limits, the answer passed back as is, transport failures 502/504 with Proxy-Status.
 */
export async function startEgress(
  config: EgressConfig,
  deps: { keys: KeyService; forwarder: Forwarder },
  logger: Logger,
): Promise<{ port: number; server: http.Server; stop(): Promise<void> }> {
  const server = http.createServer({ maxHeaderSize: config.EGRESS_MAX_HEADER_BYTES, requestTimeout: config.EGRESS_REQUEST_TIMEOUT_MS });
  server.on('request', (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const problem = forwardProblem(err, res, PROXY_NAME);
      const error = problem instanceof CaError ? problem : new CaError('internal', 'the egress proxy failed');
      if (!(problem instanceof CaError)) logger.error({ err }, 'egress request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const doc = problemDocument(error);
      // a proxy asks for credentials with 407 and Proxy-Authenticate (RFC 9110 15.5.8), not 401
      const status = error.kind === 'unauthorized' ? 407 : doc.status;
      const body = status === 407 ? JSON.stringify({ ...JSON.parse(doc.body), status: 407 }) : doc.body;
      if (status === 407) res.setHeader('Proxy-Authenticate', 'Basic realm="mtls-ca egress", charset="UTF-8"');
      res.writeHead(status, doc.headers).end(body);
    });
  });
  server.on('connect', (_req, socket) => {
    socket.on('error', () => undefined); // the client may reset the tunnel it asked for
    const body = JSON.stringify({
      type: 'urn:mtls-ca:problem:method-not-allowed',
      title: 'Method not allowed',
      status: 405,
      detail: 'CONNECT is refused: the egress proxy originates TLS itself (send the request as GET http://host:port/path)',
    });
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  server.on('clientError', (_err, socket) => {
    socket.on('error', () => undefined);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '';
    if (!/^http:\/\//i.test(url)) {
      throw new CaError('invalid-request', 'send requests in absolute form through this proxy (GET http://partner.example:8443/path); https:// and CONNECT are not accepted');
    }
    const credentials = basicCredentials(req.headers['proxy-authorization']);
    const principal = await deps.keys.authenticate(credentials.appKey, credentials.appToken, req.socket.remoteAddress);
    if (!hasPermission(principal, 'forward')) throw new CaError('forbidden', 'this API key lacks the forward permission');
    const target = parseOutboundTarget(url, 'http');
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const forwarded = await deps.forwarder.forward(principal, target, { method: req.method ?? 'GET', headers: req.headers, body: req, signal: gone.signal });
    await relayAnswer(res, forwarded);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.EGRESS_PORT, config.EGRESS_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: config.EGRESS_HOST, port }, 'egress proxy listening');
  return {
    port,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** appKey and appToken from `Basic base64(appKey:appToken)`; 407 when absent or malformed. */
function basicCredentials(header: string | undefined): { appKey: string; appToken: string } {
  const refuse = (detail: string) => new CaError('unauthorized', detail);
  const m = /^Basic\s+([A-Za-z0-9+/=]{1,2048})\s*$/i.exec(header ?? '');
  if (!m) throw refuse('send Proxy-Authorization: Basic base64(appKey:appToken) (curl -U appKey:appToken)');
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) throw refuse('Proxy-Authorization must carry appKey:appToken');
  const appKey = decoded.slice(0, colon);
  const appToken = decoded.slice(colon + 1);
  if (appKey.length > 256 || appToken.length > 512) throw refuse('missing, unknown or wrong API credentials');
  return { appKey, appToken };
}
