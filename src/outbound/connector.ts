/**
 * The outbound connector: the one way mtls-ca opens a connection to somebody else's server (the
 * forwarder, the egress proxy, the PKCS#12 tester's live handshake, webhook deliveries).
 *
 *   const connector = new OutboundConnector({ allowedNetworks: config.EGRESS_ALLOWED_NETWORKS });
 *   const answer = await connector.request({ url, method, headers, body, clientTls, serverCaPem, signal });
 *   // answer.statusCode, answer.headers (lower-case names; arrays for repeats), answer.body (a Readable)
 *   const hello = await connector.handshake({ url, clientTls, serverCaPem }); // TLS only, then closes
 *   await connector.close();
 *
 * Guarantees:
 * - the host is resolved once, when connecting; every resolved address is checked by AddressPolicy
 *   (loopback, private, link-local/metadata, CGNAT, unique-local, IPv4-mapped/compatible, NAT64, 0.0.0.0,
 *   multicast, broadcast refused unless EGRESS_ALLOWED_NETWORKS allows them) and the socket connects to
 *   exactly the first checked address (no second lookup); SNI and the certificate's name check still
 *   use the URL's host name;
 * - `clientTls` (a ClientTlsMaterial) is presented as the client certificate; `serverCaPem` pins the
 *   trust anchors, else Node's default store (system CAs plus NODE_EXTRA_CA_CERTS);
 * - no redirect is followed (a 3xx is returned as is); connect, DNS, header and body timeouts;
 * - every failure is an OutboundError whose `type` is an RFC 9209 Proxy-Status error name;
 * - `http:` URLs are refused unless the connector was built with `allowPlainHttp` (tests of webhooks).
 * Connection pools (undici Agents) are keyed on the identity's `version` and the pinned CA, so a rotated
 * identity never reuses a connection made with the old certificate.
 */
import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, request as undiciRequest, type Dispatcher } from 'undici';
import type { ClientTlsMaterial } from '../domain/client-identity';
import { AddressPolicy } from './address-policy';
import { OutboundError, classifyTransportError } from './outbound-error';

export type ResolvedAddress = { address: string; family: number };
/** Resolves a host name to all its addresses (tests inject one that answers private addresses). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface OutboundConnectorOptions {
  /** CIDRs allowed although special (EGRESS_ALLOWED_NETWORKS). */
  allowedNetworks?: readonly string[];
  resolver?: HostResolver;
  connectTimeoutMs?: number;
  /** Until the target's response headers arrive. */
  responseTimeoutMs?: number;
  /** Between two chunks of the target's response body. */
  bodyTimeoutMs?: number;
  allowPlainHttp?: boolean;
  /** Agents (connection pools) kept at most; the oldest is closed beyond. */
  maxPools?: number;
}

export interface OutboundRequest {
  url: URL | string;
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: Readable | Buffer | string | null;
  clientTls?: ClientTlsMaterial;
  serverCaPem?: string;
  signal?: AbortSignal;
}

export interface OutboundResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  /** A Readable (undici's BodyReadable: also `.text()`, `.json()`, `.dump()`); consume or destroy it. */
  body: Dispatcher.ResponseData['body'];
}

export interface HandshakeResult {
  address: string;
  protocol: string | null;
  cipher: string;
  /** The server certificate's subject and issuer as Node reports them. */
  serverSubject: string;
  serverIssuer: string;
  serverFingerprint256: string;
  /** With `probe`: the status of the target's answer to `GET <url path>`. */
  httpStatus?: number;
}

const systemResolver: HostResolver = async (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export class OutboundConnector {
  private readonly policy: AddressPolicy;
  private readonly resolver: HostResolver;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly bodyTimeoutMs: number;
  private readonly allowPlainHttp: boolean;
  private readonly maxPools: number;
  private readonly pools = new Map<string, Agent>();

  constructor(options: OutboundConnectorOptions = {}) {
    this.policy = new AddressPolicy(options.allowedNetworks ?? []);
    this.resolver = options.resolver ?? systemResolver;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000;
    this.allowPlainHttp = options.allowPlainHttp ?? false;
    this.maxPools = options.maxPools ?? 200;
  }

  /** Sends one request; resolves once the target's status and headers arrived (the body streams). */
  async request(req: OutboundRequest): Promise<OutboundResponse> {
    const url = this.checkUrl(req.url);
    const agent = this.pool(req.clientTls, req.serverCaPem);
    try {
      const answer = await undiciRequest(url, {
        dispatcher: agent,
        method: (req.method ?? 'GET') as never,
        headers: withoutHost(req.headers),
        body: req.body ?? null,
        signal: req.signal,
        headersTimeout: this.responseTimeoutMs,
        bodyTimeout: this.bodyTimeoutMs,
      });
      return { statusCode: answer.statusCode, headers: answer.headers, body: answer.body };
    } catch (err) {
      if (req.signal?.aborted) throw err;
      throw classifyTransportError(err);
    }
  }

  /**
   * Opens a TLS connection (same rules as `request`), reports what was negotiated, and closes it. With
   * `probe`, it also sends `GET <url path>` and reports the answer's status: under TLS 1.3 a server
   * refuses a client certificate only after the handshake, so the probe is what shows it was accepted.
   */
  async handshake(req: Pick<OutboundRequest, 'url' | 'clientTls' | 'serverCaPem'> & { probe?: boolean }): Promise<HandshakeResult> {
    const url = this.checkUrl(req.url);
    if (url.protocol !== 'https:') throw new OutboundError('http_request_error', 'a handshake needs an https URL');
    const connect = this.connector(req.clientTls, req.serverCaPem);
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      connect(
        { hostname: url.hostname, protocol: url.protocol, port: url.port || '443', servername: undefined },
        (err, s) => (err ? reject(classifyTransportError(err)) : resolve(s as TLSSocket)),
      );
    });
    try {
      const peer = socket.getPeerCertificate();
      const name = (n: Record<string, unknown> | undefined) =>
        Object.entries(n ?? {}).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ');
      const result: HandshakeResult = {
        address: socket.remoteAddress ?? '',
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        serverSubject: name(peer.subject as unknown as Record<string, unknown>),
        serverIssuer: name(peer.issuer as unknown as Record<string, unknown>),
        serverFingerprint256: peer.fingerprint256 ?? '',
      };
      if (req.probe) result.httpStatus = await this.probeStatus(socket, url);
      return result;
    } finally {
      socket.destroy();
    }
  }

  /** Sends `GET <path>` on an open TLS socket and resolves with the answer's status code. */
  private probeStatus(socket: TLSSocket, url: URL): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let head = '';
      const timer = setTimeout(() => done(new OutboundError('http_response_timeout', 'the target did not answer the probe in time')), this.responseTimeoutMs);
      const done = (err: Error | null, status?: number) => {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        if (err) reject(classifyTransportError(err));
        else resolve(status!);
      };
      socket.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        const line = head.split('\r\n', 1)[0];
        if (head.includes('\r\n') || head.length > 1024) {
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(line);
          done(m ? null : new OutboundError('http_protocol_error', 'the target did not answer HTTP/1.1'), m ? Number(m[1]) : undefined);
        }
      });
      socket.once('error', (err) => done(err));
      socket.once('end', () => done(new OutboundError('connection_terminated', 'the target closed the connection without answering')));
      socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: mtls-ca-pkcs12-test\r\nConnection: close\r\n\r\n`);
    });
  }

  /** Resolves `hostname` and returns the address to connect to, or throws destination_ip_prohibited / dns_error. */
  async resolveChecked(hostname: string): Promise<ResolvedAddress> {
    const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
    let addresses: ResolvedAddress[];
    if (isIP(bare)) addresses = [{ address: bare, family: isIP(bare) }];
    else {
      let timer: NodeJS.Timeout | undefined;
      try {
        addresses = await Promise.race([
          this.resolver(bare),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new OutboundError('dns_timeout', `resolving ${bare} timed out`)), this.connectTimeoutMs);
          }),
        ]);
      } catch (err) {
        throw classifyTransportError(err);
      } finally {
        clearTimeout(timer);
      }
      if (addresses.length === 0) throw new OutboundError('dns_error', `${bare} has no address`);
    }
    for (const { address } of addresses) {
      const refusal = this.policy.refusal(address);
      if (refusal) {
        // A host name's resolved address is not told to the caller (that would let any key with a route
        // map internal DNS); an IP literal the caller wrote may be named.
        throw new OutboundError(
          'destination_ip_prohibited',
          isIP(bare) ? refusal : `${bare} resolves to an address outside the public internet (not allowed by EGRESS_ALLOWED_NETWORKS)`,
        );
      }
    }
    return addresses[0];
  }

  async close(): Promise<void> {
    const agents = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }

  private checkUrl(input: URL | string): URL {
    let url: URL;
    try {
      url = typeof input === 'string' ? new URL(input) : input;
    } catch {
      throw new OutboundError('http_request_error', 'the target is not a URL');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.allowPlainHttp)) {
      throw new OutboundError('http_request_denied', `the target must be an https URL (got ${url.protocol})`);
    }
    if (url.username || url.password) throw new OutboundError('http_request_denied', 'the target URL must not carry credentials');
    return url;
  }

  private pool(clientTls: ClientTlsMaterial | undefined, serverCaPem: string | undefined): Agent {
    const key = `${clientTls ? `${clientTls.identityId}:${clientTls.version}` : '-'}|${serverCaPem ? sha256(serverCaPem) : 'system'}`;
    const existing = this.pools.get(key);
    if (existing) {
      this.pools.delete(key);
      this.pools.set(key, existing); // most recently used last
      return existing;
    }
    const agent = new Agent({ connect: this.connector(clientTls, serverCaPem), connections: 32, keepAliveTimeout: 4_000 });
    this.pools.set(key, agent);
    while (this.pools.size > this.maxPools) {
      const [oldestKey, oldest] = this.pools.entries().next().value as [string, Agent];
      this.pools.delete(oldestKey);
      void oldest.close().catch(() => undefined);
    }
    return agent;
  }

  /** An undici connector that resolves and checks first, then connects to that very address. */
  private connector(clientTls: ClientTlsMaterial | undefined, serverCaPem: string | undefined): buildConnector.connector {
    const inner = buildConnector({
      timeout: this.connectTimeoutMs,
      ...(clientTls ? { key: clientTls.keyPem, cert: [clientTls.certificatePem, ...clientTls.chainPem].join('\n') } : {}),
      ...(serverCaPem ? { ca: serverCaPem } : {}),
      rejectUnauthorized: true,
    } as buildConnector.BuildOptions);
    return (opts, callback) => {
      const hostname = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
      this.resolveChecked(hostname).then(
        ({ address }) => {
          try {
            inner(
              {
                ...opts,
                hostname: address,
                host: address,
                // SNI and the certificate name check use the URL's host name — never the address, and never
                // a Host header undici may have derived a servername from
                servername: isIP(hostname) ? undefined : hostname.replace(/\.$/, ''),
              },
              callback,
            );
          } catch (err) {
            // tls.connect throws at once when Node cannot load the key or certificates (e.g. "ee key too
            // small"): an answer for the caller, never an unhandled rejection that ends the process.
            callback(err as Error, null);
          }
        },
        (err: unknown) => callback(err as Error, null),
      );
    };
  }
}

/** The request's headers without Host: undici writes the URL's authority. */
function withoutHost(headers: OutboundRequest['headers']): OutboundRequest['headers'] {
  if (!headers) return headers;
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'host'));
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
