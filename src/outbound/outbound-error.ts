import { CaError } from '../domain/errors';

/**
 * RFC 9209 Proxy-Status error types the outgoing side reports. The names are the registry's, so the
 * header means the same to any client that knows RFC 9209.
 */
export type ProxyErrorType =
  | 'dns_error'
  | 'dns_timeout'
  | 'destination_not_found'
  | 'destination_unavailable'
  | 'destination_ip_prohibited'
  | 'destination_ip_unroutable'
  | 'connection_refused'
  | 'connection_terminated'
  | 'connection_timeout'
  | 'connection_read_timeout'
  | 'connection_limit_reached'
  | 'tls_protocol_error'
  | 'tls_certificate_error'
  | 'tls_alert_received'
  | 'http_request_error'
  | 'http_request_denied'
  | 'http_response_incomplete'
  | 'http_response_timeout'
  | 'http_protocol_error'
  | 'proxy_internal_error';

/** A failure to reach or talk to the target; `type` becomes `Proxy-Status: <proxy>; error=<type>`. */
export class OutboundError extends Error {
  constructor(
    readonly type: ProxyErrorType,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OutboundError';
  }

  /** 504 for the timeouts, 403 for a prohibited address, 502 for everything else. */
  get status(): 502 | 504 | 403 {
    if (this.type === 'destination_ip_prohibited') return 403;
    return /timeout/.test(this.type) ? 504 : 502;
  }

  /** The RFC 9209 header value, e.g. `mtls-ca; error=tls_certificate_error; details="..."`. */
  proxyStatus(proxyName = 'mtls-ca'): string {
    const details = this.message.replace(/[\\"]/g, '').replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    return `${proxyName}; error=${this.type}; details="${details}"`;
  }

  /** The problem+json error; the Proxy-Status value travels as an extension so the error handler sets the header. */
  toCaError(): CaError {
    const kind = this.status === 403 ? 'forbidden' : this.status === 504 ? 'gateway-timeout' : 'bad-gateway';
    return new CaError(kind, this.message, { cause: this, extensions: { proxyStatus: this.type } });
  }
}

const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_FORMAT', 'PATH_LENGTH_EXCEEDED',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_CHAIN_TOO_LONG',
]);

/** Maps what undici / Node's net and tls throw onto a Proxy-Status error type. */
export function classifyTransportError(err: unknown): OutboundError {
  if (err instanceof OutboundError) return err;
  let e: unknown = err;
  // undici wraps the socket's error in `cause` for some paths; look at the innermost coded error
  for (let i = 0; i < 4 && e instanceof Error && !(e as NodeJS.ErrnoException).code && e.cause; i++) e = e.cause;
  if (e instanceof OutboundError) return e;
  const code = String((e as NodeJS.ErrnoException)?.code ?? '');
  const message = e instanceof Error ? e.message : String(e);
  const out = (type: ProxyErrorType, text: string) => new OutboundError(type, text, { cause: err });
  if (CERTIFICATE_CODES.has(code)) return out('tls_certificate_error', `the target's TLS certificate was refused: ${message}`);
  if (code.startsWith('ERR_SSL_') && /alert/i.test(code)) return out('tls_alert_received', `the target sent a TLS alert: ${message}`);
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO') return out('tls_protocol_error', `TLS handshake with the target failed: ${message}`);
  switch (code) {
    case 'ENOTFOUND':
    case 'ENODATA':
    case 'EAI_NONAME':
      return out('dns_error', `the target's host name does not resolve`);
    case 'EAI_AGAIN':
      return out('dns_timeout', `the target's host name could not be resolved now`);
    case 'ECONNREFUSED':
      return out('connection_refused', 'the target refused the connection');
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return out('connection_terminated', 'the target closed the connection');
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return out('destination_ip_unroutable', 'the target address is unreachable');
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return out('connection_timeout', 'connecting to the target timed out');
    case 'UND_ERR_HEADERS_TIMEOUT':
      return out('http_response_timeout', 'the target did not answer in time');
    case 'UND_ERR_BODY_TIMEOUT':
      return out('connection_read_timeout', "the target's answer stalled");
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_RESPONSE_INCOMPLETE':
      return out('http_response_incomplete', "the target's answer was cut short");
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'UND_ERR_INFO':
      return out('http_protocol_error', 'the target did not speak valid HTTP');
    default:
      if (code.startsWith('HPE_')) return out('http_protocol_error', 'the target did not speak valid HTTP');
      return out('proxy_internal_error', 'the request to the target failed');
  }
}
