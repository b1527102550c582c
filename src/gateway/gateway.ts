import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { isPlainHttpOffHost, loadTrustedCa, trustedIssuerOf, type TrustedCa } from './ca-trust';
import { accountOf, certificateSubject, escapeDnValue, rfc4514 } from './distinguished-name';
import type { GatewayConfig } from './gateway-config';
import { refuse, refuseOnSocket } from './gateway-problem';
import { normalizeRequestTarget } from './request-target';
import { RevocationCache } from './revocation-cache';
import { downstreamHeaders, upstreamHeaders } from './upstream-headers';
import { decidePartner } from './partner-trust';
import { TrustMaterialClient } from './trust-material-client';
import { httpCrlUrl, PartnerCrlCache } from './partner-crl';
import { OutboundConnector } from '../outbound/connector';

export { IDENTITY_HEADERS } from './upstream-headers';

export interface RunningGateway {
  readonly url: string;
  readonly cache: RevocationCache;
  stop(): Promise<void>;
}

/** host[:port], a reg-name or an IP literal; anything else in Host is refused rather than passed on. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/;

/**
 * The mTLS gateway: requires a client certificate issued by the trusted CA, checks it against the CA's
 * CRL (refreshed every GATEWAY_CRL_REFRESH_SECONDS, checked on every request, so also on connections
 * opened before a revocation), normalises the request path once, enforces the per-path account
 * allow-list on it, and reverse-proxies that same path to GATEWAY_UPSTREAM with identity headers.
 * Every refusal is a problem+json answer and a log line; the upstream is never reached. No error while
 * handling one request can stop the process: it is logged and answered 502.
 */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  const upstream = new URL(config.GATEWAY_UPSTREAM);
  const client = upstream.protocol === 'https:' ? https : http;
  const basePath = upstream.pathname.replace(/\/$/, '');
  const trust = await loadTrustedCa({ caFile: config.GATEWAY_CA_FILE, caUrl: config.GATEWAY_CA_URL, fingerprint: config.GATEWAY_CA_FINGERPRINT });
  warnAtStart(config, trust, logger);
  const cache = new RevocationCache(config.GATEWAY_CA_URL, trust.issuers, config.GATEWAY_CRL_REFRESH_SECONDS * 1000, logger);
  await cache.start();
  const refreshMs = config.GATEWAY_CRL_REFRESH_SECONDS * 1000;
  const partners = config.GATEWAY_APP_KEY && config.GATEWAY_APP_TOKEN
    ? new TrustMaterialClient(config.GATEWAY_CA_URL, { appKey: config.GATEWAY_APP_KEY, appToken: config.GATEWAY_APP_TOKEN }, refreshMs, (config.GATEWAY_TRUST_MAX_STALE_SECONDS ?? 3 * config.GATEWAY_CRL_REFRESH_SECONDS) * 1000, logger)
    : null;
  await partners?.start();
  // Partner CRLs are fetched from URLs partners put in their certificates: through the outbound connector's address rules.
  const crlConnector = new OutboundConnector({ allowedNetworks: config.GATEWAY_PARTNER_CRL_ALLOWED_NETWORKS, allowPlainHttp: true, connectTimeoutMs: 5_000, responseTimeoutMs: 5_000, bodyTimeoutMs: 5_000, maxPools: 4 });
  const partnerCrls = new PartnerCrlCache(refreshMs, (config.GATEWAY_TRUST_MAX_STALE_SECONDS ?? 3 * config.GATEWAY_CRL_REFRESH_SECONDS) * 1000, crlConnector, logger);

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, log: Logger): void => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerX509Certificate();
    if (!peer) {
      log.info({ reason: 'no client certificate' }, 'gateway refused');
      return refuse(res, 'client-certificate-required', 'a client certificate issued by the CA is required');
    }
    // Revocation is the gateway's own check (the TLS context gets no CRL: OpenSSL would refuse every
    // certificate once the CRL is past its nextUpdate, whatever GATEWAY_FAIL_OPEN says).
    const issuer = trustedIssuerOf(trust, peer);
    let reason = !socket.authorized ? String(socket.authorizationError ?? 'untrusted') : !issuer ? 'not issued by the CA' : null;
    // Not the CA's: a partner's certificate (issue 12), verified in code against the fetched anchors and registrations.
    let partnerAccount: string | undefined;
    let partnerVia: 'anchor' | 'registered' | undefined;
    if (reason && partners) {
      const snapshot = partners.current();
      if (!partners.fresh() && !config.GATEWAY_FAIL_OPEN) {
        log.warn({ reason: 'partner trust material stale and the CA unreachable' }, 'gateway refused');
        return refuse(res, 'revocation-status-unknown', 'partner trust cannot be checked right now');
      }
      const decision = snapshot ? decidePartner(peer, snapshot, new Date()) : { admitted: false as const, reason: 'no partner trust material' };
      const crlUrl = decision.admitted && decision.anchor ? httpCrlUrl(peer) : null;
      const crl = crlUrl && decision.admitted && decision.anchor ? partnerCrls.status(crlUrl, decision.anchor, peer.serialNumber) : null;
      if (crl?.status === 'revoked') reason = 'CERT_REVOKED by the partner CA';
      else if (crl?.status === 'unknown' && !config.GATEWAY_FAIL_OPEN) {
        log.warn({ reason: 'partner CRL unavailable', url: crlUrl }, 'gateway refused');
        return refuse(res, 'revocation-status-unknown', "the partner CA's revocation status cannot be checked right now");
      } else if (decision.admitted) [reason, partnerAccount, partnerVia] = [null, decision.account, decision.via];
      else reason = `${reason}; ${decision.reason}`;
    }
    if (reason) {
      log.info({ reason, serial: peer.serialNumber }, 'gateway refused');
      return refuse(res, 'client-certificate-rejected', `the client certificate was rejected: ${reason}`);
    }
    if (partnerAccount === undefined && !cache.fresh(Date.now(), issuer ?? undefined) && !config.GATEWAY_FAIL_OPEN) {
      log.warn({ reason: 'CRL past nextUpdate and the CA unreachable' }, 'gateway refused');
      return refuse(res, 'revocation-status-unknown', 'revocation status cannot be checked right now');
    }
    if (partnerAccount === undefined && cache.isRevoked(peer.serialNumber, issuer ?? undefined)) {
      log.info({ reason: 'revoked', serial: peer.serialNumber }, 'gateway refused');
      return refuse(res, 'client-certificate-rejected', 'the client certificate was rejected: CERT_REVOKED');
    }
    const hosts = req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i].toLowerCase() === 'host').length;
    if (hosts > 1 || (req.headers.host !== undefined && !HOST.test(req.headers.host))) {
      log.info({ reason: 'bad Host', host: req.headers.host, hosts }, 'gateway refused');
      return refuse(res, 'invalid-host', 'the request needs exactly one Host header holding host[:port]');
    }
    const target = normalizeRequestTarget(req.url ?? '');
    if (!target.ok) {
      log.info({ reason: target.detail }, 'gateway refused');
      return refuse(res, 'invalid-request-target', target.detail);
    }
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
      log.info({ reason: 'transfer coding', te }, 'gateway refused');
      return refuse(res, 'invalid-request', 'only the chunked transfer coding is accepted');
    }
    const subject = certificateSubject(peer.raw);
    const account = partnerAccount ?? accountOf(subject);
    const decision = config.allow.decide(target.path, account);
    if (!decision.allowed) {
      log.info({ reason: decision.reason, account, path: target.path }, 'gateway refused');
      const detail = decision.reason === 'account-not-allowed' ? `account ${account ?? '(none)'} may not use ${decision.prefix}` : `no GATEWAY_ALLOW rule covers ${target.path}`;
      return refuse(res, decision.reason, detail);
    }

    const identity = {
      'x-client-cert-serial': peer.serialNumber.toUpperCase(),
      'x-client-cert-subject': rfc4514(subject),
      'x-client-account': account === undefined ? '' : escapeDnValue(account),
      'x-client-cert-fingerprint': peer.fingerprint256.replace(/:/g, '').toLowerCase(),
      // Which trust admitted the client: this CA, a partner's CA (trust anchor) or a registered certificate.
      'x-client-trust': partnerVia === 'anchor' ? 'partner-ca' : partnerVia === 'registered' ? 'registered' : 'ca',
    };
    const headers = upstreamHeaders(req, upstream.host, identity, { remoteAddress: socket.remoteAddress ?? '', host: req.headers.host });
    // The body's framing is the gateway's, from what its parser read: never the client's headers as sent.
    const length = req.headers['content-length'];
    if (te !== undefined) headers['transfer-encoding'] = 'chunked';
    else if (length !== undefined) headers['content-length'] = length;
    const path = `${basePath}${target.path}${target.query}`;
    const forward = client.request({ protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path, headers }, (up) => {
      try {
        res.writeHead(up.statusCode ?? 502, downstreamHeaders(up));
      } catch (err) {
        up.destroy();
        return failed(err, res, log);
      }
      pipeline(up, res, (err) => err && log.info({ err: err.message }, 'answer not fully delivered'));
    });
    let timedOut = false;
    forward.setTimeout(config.GATEWAY_UPSTREAM_TIMEOUT_MS, () => {
      timedOut = true;
      forward.destroy(new Error(`no answer within ${config.GATEWAY_UPSTREAM_TIMEOUT_MS} ms`));
    });
    forward.on('error', (err) => {
      if (res.destroyed) return void log.info({ err: err.message }, 'client left before the answer; upstream request abandoned');
      log.error({ err: err.message }, 'upstream failed');
      if (res.headersSent) res.destroy();
      else if (timedOut) refuse(res, 'upstream-timeout', 'the upstream service did not answer in time');
      else refuse(res, 'upstream-unavailable', 'the upstream service did not answer');
    });
    req.on('error', () => forward.destroy());
    res.on('close', () => res.writableFinished || forward.destroy());
    if (te !== undefined || (length !== undefined && length !== '0')) req.pipe(forward);
    else forward.end();
  };

  const limits = {
    maxHeaderSize: config.GATEWAY_MAX_HEADER_BYTES,
    requestTimeout: config.GATEWAY_REQUEST_TIMEOUT_MS,
    headersTimeout: Math.min(config.GATEWAY_REQUEST_TIMEOUT_MS, 10_000),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.GATEWAY_REQUEST_TIMEOUT_MS / 4))),
  };
  const key = readFileSync(config.GATEWAY_TLS_KEY_FILE);
  const cert = readFileSync(config.GATEWAY_TLS_CERT_FILE);
  const server = https.createServer({ key, cert, ca: trust.pem, requestCert: true, rejectUnauthorized: false, ...limits }, (req, res) => {
    const log = logger.child({ method: req.method, path: req.url, ip: req.socket.remoteAddress });
    try {
      handle(req, res, log);
    } catch (err) {
      failed(err, res, log);
    }
  });
  server.on('connect', (_req: http.IncomingMessage, socket) => refuseOnSocket(socket, 'method-not-allowed', 'the gateway is not a forward proxy: CONNECT is refused'));
  server.on('tlsClientError', (err) => logger.info({ reason: err.message }, 'gateway handshake failed'));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const busy = (socket as typeof socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || busy) return void socket.destroy();
    // OpenSSL leaves the error of a failed client-certificate signature check queued, and Node reports it
    // on the next read: the request is still answered (401, with the reason) by the request handler.
    if (err.code?.startsWith('ERR_SSL_')) return void logger.info({ code: err.code }, 'gateway TLS error after the handshake');
    const kind = err.code === 'HPE_HEADER_OVERFLOW' ? 'header-fields-too-large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : 'invalid-request';
    logger.info({ code: err.code, kind }, 'gateway refused a malformed or slow request');
    refuseOnSocket(socket, kind, 'the request was refused before it was read');
  });
  server.listen(config.GATEWAY_PORT, config.GATEWAY_HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.on('error', (err) => logger.error({ err: err.message }, 'gateway listener error'));
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, upstream: upstream.origin, ca: trust.source }, 'mtls-ca gateway is listening');
  return {
    url: `https://127.0.0.1:${port}`,
    cache,
    stop: async () => {
      cache.stop();
      partners?.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await crlConnector.close();
    },
  };
}

/** An unexpected error while handling one request: logged, answered 502, never thrown further. */
function failed(err: unknown, res: http.ServerResponse, log: Logger): void {
  log.error({ err: err instanceof Error ? err.message : String(err) }, 'gateway failed on a request');
  try {
    if (res.headersSent) res.destroy();
    else refuse(res, 'gateway-error', 'the gateway could not pass the request on');
  } catch {
    res.destroy();
  }
}

function warnAtStart(config: GatewayConfig, trust: TrustedCa, logger: Logger): void {
  if (config.allow.empty) {
    logger.warn('GATEWAY_ALLOW is empty: every path is open to every certificate of the CA (set GATEWAY_ALLOW to restrict paths per account)');
  } else if (config.GATEWAY_ALLOW_UNLISTED && !config.GATEWAY_ALLOW_CASE_INSENSITIVE) {
    logger.warn('GATEWAY_ALLOW_UNLISTED=true with case-sensitive rules: an upstream that routes case-insensitively (Express by default) serves /GLOBEX/ for a /globex/ rule; set GATEWAY_ALLOW_CASE_INSENSITIVE=true for such an upstream');
  }
  if (isPlainHttpOffHost(config.GATEWAY_CA_URL)) {
    const pinned = config.GATEWAY_CA_FILE ? 'the CA is pinned by GATEWAY_CA_FILE' : config.GATEWAY_CA_FINGERPRINT ? 'the CA is pinned by GATEWAY_CA_FINGERPRINT' : 'the CA certificate itself came over it unauthenticated: set GATEWAY_CA_FILE';
    logger.warn({ ca: config.GATEWAY_CA_URL, trust: trust.source }, `GATEWAY_CA_URL is plain HTTP to another host: an on-path attacker can withhold CRLs (the gateway then fails closed at nextUpdate); ${pinned}`);
  }
}
