import { isIP } from 'node:net';
import { normalizeRequestTarget } from '../gateway/request-target';
import { CaError } from './errors';

/** Requests of `account` to host:port under pathPrefix present `identityId`; `serverCaPem` pins the target's CA. */
export interface OutboundRoute {
  readonly id: string;
  readonly account: string;
  readonly host: string;
  readonly port: number;
  /** '/' or a normalised path without a trailing '/'; matches that path and everything below it. */
  readonly pathPrefix: string;
  readonly identityId: string;
  readonly serverCaPem: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Where a forwarded request goes, after normalisation: what routes are matched on and what is sent. */
export interface OutboundTarget {
  readonly host: string;
  readonly port: number;
  /** Normalised path (request-target.ts), what is matched and sent. */
  readonly path: string;
  /** '' or '?…' as given. */
  readonly query: string;
  /** The https URL the connector is given. */
  readonly url: URL;
}

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A host as routes store and match it: lower case (URL parsing also turns IDNs into punycode), without
 * brackets for IPv6, and without a trailing dot — `partner.example.` names the same DNS node as
 * `partner.example`, so both match one route and neither can dodge it. Anything else is refused.
 */
export function normalizeHost(input: string): string {
  let host = input.trim().toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (isIP(host) === 6) return host;
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (isIP(host) === 4) return host;
  if (host.length === 0 || host.length > 253 || !host.split('.').every((label) => HOST_LABEL.test(label))) {
    throw new CaError('invalid-request', `"${input.slice(0, 100)}" is not a host name (letters, digits, "-" and "." only; no port, path or user)`, {
      extensions: { field: 'host' },
    });
  }
  return host;
}

/** A route's pathPrefix, normalised like a request path; '/a/b/' and '/a/b' are the same prefix. */
export function normalizePathPrefix(input: string): string {
  const target = normalizeRequestTarget(input);
  if (!target.ok) throw new CaError('invalid-request', `pathPrefix: ${target.detail}`, { extensions: { field: 'pathPrefix' } });
  if (target.query) throw new CaError('invalid-request', 'pathPrefix must not carry a query string', { extensions: { field: 'pathPrefix' } });
  return target.path.length > 1 ? target.path.replace(/\/+$/, '') || '/' : '/';
}

/**
 * Reads the target a caller asked for (X-Forward-Url, or the egress proxy's absolute-form request line).
 * `scheme` is the scheme the caller may write: 'https' for /forward, 'http' for the egress proxy (where
 * `http://` means "originate TLS to this host:port"). The default port is 443 either way.
 */
export function parseOutboundTarget(raw: string, scheme: 'https' | 'http'): OutboundTarget {
  const bad = (detail: string) => new CaError('invalid-request', detail);
  if (raw.length > 8192) throw bad('the target URL is too long');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad('the target must be an absolute URL such as https://partner.example/api');
  }
  if (url.protocol !== `${scheme}:`) throw bad(`the target must be a ${scheme}:// URL`);
  if (url.username || url.password) throw bad('the target URL must not carry a user name or password');
  if (raw.includes('#')) throw bad('the target URL must not carry a fragment');
  const host = normalizeHost(url.hostname);
  // url.port is '' for the scheme's default; http's default (80) is not ours: 443 unless written
  const explicitPort = /^[a-z]+:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/i.exec(raw);
  const port = explicitPort ? Number(explicitPort[1]) : 443;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the target port must be 1-65535');
  const rest = raw.replace(/^[a-z]+:\/\/[^/?#]*/i, '') || '/';
  const normalised = normalizeRequestTarget(rest.startsWith('/') ? rest : `/${rest}`);
  if (!normalised.ok) throw bad(`the target path: ${normalised.detail}`);
  const authority = isIP(host) === 6 ? `[${host}]` : host;
  const out = new URL(`https://${authority}:${port}${normalised.path}${normalised.query}`);
  return { host, port, path: normalised.path, query: normalised.query, url: out };
}

/** Whether `path` is `prefix` or below it, on whole segments ('/api' matches '/api' and '/api/x', never '/apix'). */
export function pathUnder(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** The route for a target among an account's routes: same host and port, the longest matching path prefix. */
export function matchRoute<R extends Pick<OutboundRoute, 'host' | 'port' | 'pathPrefix'>>(routes: readonly R[], target: OutboundTarget): R | null {
  let best: R | null = null;
  for (const r of routes) {
    if (r.host !== target.host || r.port !== target.port || !pathUnder(r.pathPrefix, target.path)) continue;
    if (!best || r.pathPrefix.length > best.pathPrefix.length) best = r;
  }
  return best;
}
