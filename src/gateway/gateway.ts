import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { GatewayConfig } from './gateway-config';
import { RevocationCache } from './revocation-cache';

/** Headers the gateway sets for the upstream; any the client sent under these names are dropped first. */
export const IDENTITY_HEADERS = ['x-client-cert-serial', 'x-client-cert-subject', 'x-client-account', 'x-client-cert-fingerprint'] as const;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization']);

export interface RunningGateway {
  readonly url: string;
  readonly cache: RevocationCache;
  stop(): Promise<void>;
}

function refuse(res: http.ServerResponse, status: 401 | 403 | 502 | 503 | 504, kind: string, detail: string): void {
  const body = JSON.stringify({ type: `urn:mtls-ca:problem:${kind}`, title: http.STATUS_CODES[status], status, detail });
  res.writeHead(status, { 'Content-Type': 'application/problem+json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function accountOf(subject: string): string | undefined {
  const ous = subject.split('\n').filter((l) => l.startsWith('OU=')).map((l) => l.slice(3));
  return ous.length === 1 ? ous[0] : undefined;
}

/**
 * The mTLS gateway: requires a client certificate chaining to the CA, checks it against the CA's CRL
 * (refreshed every GATEWAY_CRL_REFRESH_SECONDS), enforces the per-path account allow-list, and
 * reverse-proxies to GATEWAY_UPSTREAM with identity headers. Refusals are HTTP answers (401 for a
 * missing, untrusted, expired or revoked certificate; 403 for an account not allowed on the path;
 * 503 when revocation status is unknown) so that every reason is logged; the upstream is never reached.
 */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  const upstream = new URL(config.GATEWAY_UPSTREAM);
  const client = upstream.protocol === 'https:' ? https : http;
  const key = readFileSync(config.GATEWAY_TLS_KEY_FILE);
  const cert = readFileSync(config.GATEWAY_TLS_CERT_FILE);
  let server: https.Server | null = null;
  const secureOptions = () => ({ key, cert, ca: cache.caPem, crl: cache.crlPem, requestCert: true, rejectUnauthorized: false });
  const cache = new RevocationCache(config.GATEWAY_CA_URL, config.GATEWAY_CRL_REFRESH_SECONDS * 1000, logger, () => server?.setSecureContext(secureOptions()));
  await cache.start();

  const limits = {
    maxHeaderSize: config.GATEWAY_MAX_HEADER_BYTES,
    requestTimeout: config.GATEWAY_REQUEST_TIMEOUT_MS,
    headersTimeout: Math.min(config.GATEWAY_REQUEST_TIMEOUT_MS, 10_000),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.GATEWAY_REQUEST_TIMEOUT_MS / 4))),
  };
  server = https.createServer({ ...secureOptions(), ...limits }, (req, res) => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerX509Certificate();
    const log = logger.child({ method: req.method, path: req.url, ip: socket.remoteAddress });
    if (!peer) {
      log.info({ reason: 'no client certificate' }, 'gateway refused');
      return refuse(res, 401, 'client-certificate-required', 'a client certificate issued by the CA is required');
    }
    if (!socket.authorized) {
      const reason = String(socket.authorizationError ?? 'untrusted');
      log.info({ reason, serial: peer.serialNumber, subject: peer.subject }, 'gateway refused');
      return refuse(res, 401, 'client-certificate-rejected', `the client certificate was rejected: ${reason}`);
    }
    if (!cache.fresh() && !config.GATEWAY_FAIL_OPEN) {
      log.warn({ reason: 'CRL past nextUpdate and the CA unreachable' }, 'gateway refused');
      return refuse(res, 503, 'revocation-status-unknown', 'revocation status cannot be checked right now');
    }
    if (cache.isRevoked(peer.serialNumber)) {
      log.info({ reason: 'revoked', serial: peer.serialNumber }, 'gateway refused');
      return refuse(res, 401, 'client-certificate-rejected', 'the client certificate was rejected: CERT_REVOKED');
    }
    const account = accountOf(peer.subject);
    const rule = config.allow.find((r) => (req.url ?? '/').startsWith(r.prefix));
    if (rule && (!account || !rule.accounts.has(account))) {
      log.info({ reason: 'account not allowed', account, prefix: rule.prefix }, 'gateway refused');
      return refuse(res, 403, 'account-not-allowed', `account ${account ?? '(none)'} may not use ${rule.prefix}`);
    }

    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(name) || (IDENTITY_HEADERS as readonly string[]).includes(name) || value === undefined) continue;
      headers[name] = value;
    }
    headers.host = upstream.host;
    headers['x-client-cert-serial'] = peer.serialNumber.toUpperCase();
    headers['x-client-cert-subject'] = peer.subject.split('\n').join(', ');
    headers['x-client-account'] = account ?? '';
    headers['x-client-cert-fingerprint'] = peer.fingerprint256.replace(/:/g, '').toLowerCase();
    headers['x-forwarded-for'] = socket.remoteAddress ?? '';
    headers['x-forwarded-proto'] = 'https';

    const basePath = upstream.pathname.replace(/\/$/, '');
    const forward = client.request(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: `${basePath}${req.url}`, headers },
      (up) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
      },
    );
    let timedOut = false;
    forward.setTimeout(config.GATEWAY_UPSTREAM_TIMEOUT_MS, () => {
      timedOut = true;
      forward.destroy(new Error(`no answer within ${config.GATEWAY_UPSTREAM_TIMEOUT_MS} ms`));
    });
    forward.on('error', (err) => {
      log.error({ err: err.message }, 'upstream failed');
      if (res.headersSent) res.destroy();
      else if (timedOut) refuse(res, 504, 'upstream-timeout', 'the upstream service did not answer in time');
      else refuse(res, 502, 'upstream-unavailable', 'the upstream service did not answer');
    });
    req.pipe(forward);
  });
  server.on('tlsClientError', (err) => logger.info({ reason: err.message }, 'gateway handshake failed'));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const busy = (socket as typeof socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || busy) return void socket.destroy();
    const [status, kind] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'header-fields-too-large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request-timeout'] : [400, 'invalid-request'];
    const body = JSON.stringify({ type: `urn:mtls-ca:problem:${kind}`, title: http.STATUS_CODES[status], status, detail: 'the request was refused before it was read' });
    logger.info({ code: err.code, status }, 'gateway refused a malformed or slow request');
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  server.listen(config.GATEWAY_PORT, config.GATEWAY_HOST);
  await new Promise<void>((resolve, reject) => {
    server!.once('listening', resolve);
    server!.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, upstream: upstream.origin, ca: config.GATEWAY_CA_URL }, 'mtls-ca gateway is listening');
  return {
    url: `https://127.0.0.1:${port}`,
    cache,
    stop: async () => {
      cache.stop();
      server?.closeAllConnections();
      await new Promise((r) => server!.close(r));
    },
  };
}
