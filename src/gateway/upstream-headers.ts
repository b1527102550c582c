import type http from 'node:http';

/** Headers the gateway sets for the upstream from the client certificate. */
export const IDENTITY_HEADERS = ['x-client-cert-serial', 'x-client-cert-subject', 'x-client-account', 'x-client-cert-fingerprint', 'x-client-trust'] as const;
export type IdentityHeaders = Record<(typeof IDENTITY_HEADERS)[number], string>;

/** RFC 9110, 7.6.1, and the ones proxies have always treated so. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'http2-settings'];
/** Who the client is and which URL it asked for: only the gateway may say (some frameworks route on the last two). */
const FORWARDING = ['forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'x-cluster-client-ip', 'client-ip', 'x-original-url', 'x-rewrite-url'];
/** Set by the gateway itself: the upstream's host, and the body framing (from what the parser read). */
const GATEWAY_SET = ['host', 'content-length', ...IDENTITY_HEADERS];
const DROPPED = new Set([...HOP_BY_HOP, ...FORWARDING, ...GATEWAY_SET]);

/**
 * A header name as CGI, WSGI and FastCGI upstreams see it: they turn `-` into `_` (lighttpd turns every
 * character but a letter or digit into `_`), so `X_Client_Account`, `X.Client.Account` and
 * `x-client-account` arrive as the same variable. Comparing folded names closes that door.
 */
export const foldHeaderName = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '-');

function listedInConnection(values: readonly string[]): Set<string> {
  return new Set(values.flatMap((v) => v.split(',')).map((t) => foldHeaderName(t.trim())).filter(Boolean));
}

/** Response headers passed back to the client: without hop-by-hop ones and those the upstream's Connection names. */
export function downstreamHeaders(up: http.IncomingMessage): http.OutgoingHttpHeaders {
  const named = listedInConnection(headerValues(up.headers.connection));
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(up.headers)) {
    const folded = foldHeaderName(name);
    if (value !== undefined && !HOP_BY_HOP.includes(folded) && !named.has(folded)) out[name] = value;
  }
  return out;
}

export interface ForwardedFrom {
  /** The TCP peer's address. */
  readonly remoteAddress: string;
  /** The Host the client sent (already checked), if any. */
  readonly host: string | undefined;
}

/**
 * What the upstream receives: the client's end-to-end headers (each name kept once per line sent),
 * minus every hop-by-hop header, every header the client's Connection names, and every header that
 * folds to a name the gateway owns (identity, forwarding, Host, framing); then the gateway's own.
 */
export function upstreamHeaders(req: http.IncomingMessage, upstreamHost: string, identity: IdentityHeaders, from: ForwardedFrom): http.OutgoingHttpHeaders {
  const named = listedInConnection(headerValues(req.headers.connection));
  const out: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const folded = foldHeaderName(name);
    if (DROPPED.has(folded) || folded.startsWith('x-forwarded-') || named.has(folded)) continue;
    (out[name] ??= []).push(req.rawHeaders[i + 1]);
  }
  const headers: http.OutgoingHttpHeaders = { ...out, ...identity, host: upstreamHost };
  headers['x-forwarded-for'] = from.remoteAddress;
  headers['x-forwarded-proto'] = 'https';
  const forAddress = !from.remoteAddress ? 'unknown' : from.remoteAddress.includes(':') ? `"[${from.remoteAddress}]"` : from.remoteAddress;
  headers.forwarded = `for=${forAddress};proto=https${from.host ? `;host="${from.host}"` : ''}`;
  if (from.host) headers['x-forwarded-host'] = from.host;
  return headers;
}

function headerValues(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
