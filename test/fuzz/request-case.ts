/**
 * Plain descriptions of bad HTTP requests, independent of any transport (supertest, node:http, fetch):
 * the fuzz suite and the soak script both send them and judge the answers with checkAnswer.
 */

export const ENDPOINTS = ['sign', 'revoke', 'list', 'get', 'keys-create', 'keys-disable', 'ocsp-get', 'ocsp-post'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** The API key pair the bad requests are sent with (admin: every check past authentication is reached). */
export interface Credentials {
  readonly appKey: string;
  readonly appToken: string;
}

/** OCSPResponseStatus values a responder may answer a bad OCSP request with (RFC 6960 4.2.1). */
export type OcspRejection = 'malformedRequest' | 'unauthorized';

/**
 * What a correct service answers. Every generated request is bad, so nothing is ever 2xx except the
 * OCSP endpoints, which by RFC 6960 answer 200 with an unsuccessful OCSPResponse.
 */
export type Expectation =
  /** A 4xx problem+json; when `statuses` is given, one of them. */
  | { readonly kind: 'problem'; readonly statuses?: readonly number[] }
  /** 200 application/ocsp-response carrying one of these statuses (or a 4xx problem for an oversized request). */
  | { readonly kind: 'ocsp'; readonly statuses: readonly OcspRejection[] };

export interface BadRequest {
  readonly endpoint: Endpoint;
  /** Which generator made it, e.g. `csr:deep-nesting`: for statistics and failure reports. */
  readonly family: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /**
   * The request-target exactly as it goes on the wire (already percent-encoded where needed; may hold
   * dot segments and malformed escapes on purpose). Send it raw: WHATWG URL parsing (fetch, superagent)
   * would normalise `..` and re-encode, which defeats the path cases.
   */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
  readonly expect: Expectation;
}

/** An answer as any transport sees it. Header names in lower case. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/**
 * True when Node's HTTP parser itself refuses the request (bytes outside visible ASCII in the
 * request-target), before any application code runs. Only a server that answers parser errors as
 * problem+json (a `clientError` handler) passes these; a bare `http.createServer(app)` does not.
 */
export function refusedByHttpParser(req: BadRequest): boolean {
  return /[^\x21-\x7e]/.test(req.path);
}
