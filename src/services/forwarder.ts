import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import type { IdentityKeyring } from '../domain/client-identity';
import { CaError } from '../domain/errors';
import { matchRoute, type OutboundRoute, type OutboundTarget } from '../domain/outbound-route';
import type { Principal } from '../domain/permissions';
import type { OutboundConnector, OutboundResponse } from '../outbound/connector';
import { OutboundError } from '../outbound/outbound-error';
import type { OutboundRouteRepository } from '../store/outbound-route-repository';
import type { RateLimiter, RateRule } from './rate-limiter';

export interface ForwardLimits {
  /** Largest request body sent on; beyond: 413 (declared) or the request is cut and answered 413. */
  readonly maxBodyBytes: number;
  /** Until the target's status and headers arrive; beyond: 504 http_response_timeout. */
  readonly timeoutMs: number;
  /** Requests in flight per account in this process; beyond: 429. 0: no limit. */
  readonly concurrentPerAccount: number;
  /** Requests per second per API key (shared by every replica on PostgreSQL); 0: no limit. */
  readonly ratePerKey: number;
}

/** Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own: never passed on, in either direction. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host',
]);
/**
 * What the caller sends to us, not to the target: our credentials and forwarding headers, and what a proxy in
 * front of this service adds about our own network (client addresses, the client-certificate header).
 */
const OURS = new Set([
  'x-api-appkey', 'x-api-apptoken', 'x-vtex-api-appkey', 'x-vtex-api-apptoken', 'x-forward-url', 'x-forward-authorization', 'authorization',
  'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip', 'x-client-cert',
]);

/** The headers to send on: the caller's minus hop-by-hop (and those named in Connection) and ours; X-Forward-Authorization becomes Authorization. */
export function outgoingHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = new Set(String(incoming.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter(Boolean));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || OURS.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  const auth = incoming['x-forward-authorization'];
  if (typeof auth === 'string' && auth.length > 0) out.authorization = auth;
  return out;
}

/** The target's answer headers to give back: all but hop-by-hop ones (and those its Connection names). */
export function answerHeaders(headers: OutboundResponse['headers']): Record<string, string | string[]> {
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter(Boolean));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'host') || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export interface ForwardRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The caller's body (null for none); streamed, counted against maxBodyBytes. */
  readonly body: Readable | null;
  /** Aborted when the caller goes away. */
  readonly signal?: AbortSignal;
}

export interface Forwarded {
  readonly answer: OutboundResponse;
  /** Call once the answer has been passed on (or abandoned): frees the account's concurrency slot. */
  release(): void;
}

/**
 * Sends a caller's request to a partner with the account's client identity: limits, route match (no route:
 * 403, never a plain-TLS fallback), the identity's TLS material (read fresh: a rotated identity applies on
 * the next request), then the outbound connector (SSRF rules, pinned CA). Used by /forward and the egress proxy.
 */
export class Forwarder {
  private readonly inFlight = new Map<string, number>();
  private readonly rateRule: RateRule;

  constructor(
    private readonly deps: {
      routes: OutboundRouteRepository;
      keyring: IdentityKeyring;
      connector: OutboundConnector;
      limiter: RateLimiter;
      limits: ForwardLimits;
    },
  ) {
    this.rateRule = { scope: 'forward-key', limit: deps.limits.ratePerKey, windowMs: 1000 };
  }

  /**
   * What every outgoing request of a key passes first (/forward, the egress proxy, the P12 tester's live
   * handshake): the per-key rate, then a route of the key's account that matches the target (403 if none).
   */
  async admit(principal: Principal, target: OutboundTarget): Promise<OutboundRoute> {
    const { limits } = this.deps;
    if (limits.ratePerKey > 0) {
      const decision = await this.deps.limiter.take(this.rateRule, principal.appKey);
      if (!decision.allowed) {
        throw new CaError('too-many-requests', `more than ${limits.ratePerKey} forwarded requests per second with this API key`, {
          retryAfterSeconds: decision.retryAfterSeconds,
        });
      }
    }
    const routes = await this.deps.routes.forTarget(principal.account, target.host, target.port);
    const route = matchRoute(routes, target);
    if (!route) {
      throw new CaError('forbidden', `no outbound route of account "${principal.account}" matches ${target.host}:${target.port}${target.path}`, {
        extensions: { proxyStatus: 'destination_not_found' },
      });
    }
    return route;
  }

  async forward(principal: Principal, target: OutboundTarget, req: ForwardRequest): Promise<Forwarded> {
    const { limits } = this.deps;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
      throw new CaError('payload-too-large', `a forwarded body may have at most ${limits.maxBodyBytes} bytes`);
    }
    const route = await this.admit(principal, target);
    const material = await this.deps.keyring.tlsMaterial(principal.account, route.identityId).catch((e: unknown) => {
      if (e instanceof CaError && (e.kind === 'not-found' || e.kind === 'conflict')) {
        throw new CaError('conflict', `the route's identity "${route.identityId}" has no usable certificate: ${e.detail}`);
      }
      throw e;
    });
    const account = principal.account;
    const used = this.inFlight.get(account) ?? 0;
    if (limits.concurrentPerAccount > 0 && used >= limits.concurrentPerAccount) {
      throw new CaError('too-many-requests', `account "${account}" already has ${used} forwarded requests in flight`, { retryAfterSeconds: 1 });
    }
    this.inFlight.set(account, used + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const n = (this.inFlight.get(account) ?? 1) - 1;
      if (n <= 0) this.inFlight.delete(account);
      else this.inFlight.set(account, n);
    };
    // The deadline runs until the target's status and headers arrive; the streamed body is bounded by
    // the connector's body timeout (between chunks) instead, so a long download is not cut.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), limits.timeoutMs);
    const timeout = deadline.signal;
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    let tooLarge = false;
    const body = req.body ? req.body.pipe(sizeLimit(limits.maxBodyBytes, () => (tooLarge = true))) : null;
    const bodyless = req.method === 'GET' || req.method === 'HEAD';
    try {
      const answer = await this.deps.connector.request({
        url: target.url,
        method: req.method,
        headers: outgoingHeaders(req.headers),
        body: bodyless && declared === undefined && req.headers['transfer-encoding'] === undefined ? null : body,
        clientTls: material,
        serverCaPem: route.serverCaPem ?? undefined,
        signal,
      });
      return { answer, release };
    } catch (e) {
      release();
      if (req.signal?.aborted) throw new CaError('invalid-request', 'the caller went away before the target answered', { cause: e });
      if (tooLarge) throw new CaError('payload-too-large', `a forwarded body may have at most ${limits.maxBodyBytes} bytes`);
      if (timeout.aborted) throw new OutboundError('http_response_timeout', `the target did not answer within ${limits.timeoutMs} ms`, { cause: e });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

function sizeLimit(max: number, onExceeded: () => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) {
        onExceeded();
        done(new CaError('payload-too-large', `a forwarded body may have at most ${max} bytes`));
      } else done(null, chunk);
    },
  });
}
