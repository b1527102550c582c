/**
 * The one error type of mtls-ca. `kind` is stable and becomes the problem+json `type`;
 * `detail` is safe to show to the client; `cause` is internal and never leaves the server.
 */
export const errorKinds = {
  'invalid-request': 400,
  'malformed-csr': 400,
  'not-a-csr': 400,
  'csr-signature-invalid': 400,
  'weak-csr-signature': 400,
  'subject-not-allowed': 400,
  'key-not-allowed': 400,
  'invalid-serial-number': 400,
  'invalid-revocation-reason': 400,
  unauthorized: 401,
  forbidden: 403,
  'account-mismatch': 403,
  'not-found': 404,
  'method-not-allowed': 405,
  'not-acceptable': 406,
  'request-timeout': 408,
  conflict: 409,
  'payload-too-large': 413,
  'uri-too-long': 414,
  'unsupported-media-type': 415,
  'invalid-pkcs12': 422,
  'too-many-requests': 429,
  'header-fields-too-large': 431,
  internal: 500,
  'bad-gateway': 502,
  'ledger-unavailable': 503,
  'not-ready': 503,
  'deadline-exceeded': 503,
  'gateway-timeout': 504,
} as const;

export type ErrorKind = keyof typeof errorKinds;

export class CaError extends Error {
  readonly kind: ErrorKind;
  readonly detail: string;
  /** Extra members of the problem document (e.g. the field that failed). */
  readonly extensions: Record<string, unknown>;
  /** Seconds the client should wait before retrying (429, 503); becomes Retry-After. */
  readonly retryAfterSeconds?: number;

  constructor(
    kind: ErrorKind,
    detail: string,
    options: { cause?: unknown; extensions?: Record<string, unknown>; retryAfterSeconds?: number } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CaError';
    this.kind = kind;
    this.detail = detail;
    this.extensions = options.extensions ?? {};
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get status(): number {
    return errorKinds[this.kind];
  }
}

