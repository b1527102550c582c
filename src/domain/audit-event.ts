/** What the audit trail records: the actions, the event a service reports, and the stored record. */

export const AUDIT_ACTIONS = [
  'certificate.sign',
  'certificate.revoke',
  /** A certificate renewed with the certificate in hand (POST /private-certificates/renew). */
  'certificate.renew',
  'key.create',
  'key.disable',
  'ca.load',
  /** A new pending issuer (rotation), its certificate from an offline root, its activation. */
  'ca.rotate',
  'ca.certificate',
  'ca.activate',
  /** Partners' own PKI at the gateway (issue 12). */
  'trust-anchor.add',
  'trust-anchor.remove',
  'client-certificate.register',
  'client-certificate.remove',
  /** A request with an API key pair that did not authenticate (unknown key, wrong token, disabled key). */
  'auth.failure',
  /** An authenticated key refused by permission on a route that is not itself audited (e.g. a tenant reading GET /audit). */
  'access.denied',
  /** Client identities (issue 13): created, given its certificate, exported as PKCS#12, deleted with its key. */
  'identity.create',
  'identity.certificate',
  'identity.export',
  'identity.delete',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_OUTCOMES = ['success', 'failure'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** Small free-form facts about an event (a revocation reason, the key a key event is about). Strings only. */
export type AuditDetails = Readonly<Record<string, string>>;

/** Where an audited action came from: facts of the HTTP request, or nulls for the CLI and the service itself. */
export interface AuditOrigin {
  readonly requestId: string | null;
  readonly clientIp: string | null;
}

export const NO_ORIGIN: AuditOrigin = Object.freeze({ requestId: null, clientIp: null });

/** What happened, as a service or the HTTP edge reports it. The trail adds the time, the sequence number and the hashes. */
export interface AuditEvent extends Partial<AuditOrigin> {
  readonly action: AuditAction;
  readonly outcome: AuditOutcome;
  /** The problem kind of a failure (`forbidden`, `malformed-csr`, …); absent on success. */
  readonly problem?: string | null;
  /** The API key that acted (for auth failures: the key claimed, when it exists). */
  readonly actor?: string | null;
  readonly account?: string | null;
  /** The certificate acted on (canonical hex). */
  readonly serialNumber?: string | null;
  readonly details?: AuditDetails | null;
}

/** The fields that are hashed, every one present (null when not applicable). */
export interface AuditEntry {
  readonly seq: number;
  readonly time: Date;
  readonly action: AuditAction;
  readonly outcome: AuditOutcome;
  readonly problem: string | null;
  readonly actor: string | null;
  readonly account: string | null;
  readonly serialNumber: string | null;
  readonly requestId: string | null;
  readonly clientIp: string | null;
  readonly details: AuditDetails | null;
}

/** A stored record: the entry, the hash of the record before it, and its own hash. */
export interface AuditRecord extends AuditEntry {
  readonly prevHash: string;
  readonly hash: string;
}

/** Upper bounds on stored text, in characters (Unicode code points). */
export const AUDIT_LIMITS = {
  problem: 64,
  actor: 256,
  account: 64,
  serialNumber: 40,
  requestId: 128,
  clientIp: 64,
  detailEntries: 16,
  detailKey: 64,
  detailValue: 512,
} as const;

const MAY_NEED_CLEANING = /[\u0000\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text as the database will store it and give it back: NUL (refused by PostgreSQL text and jsonb) and
 * lone surrogates (not encodable in UTF-8) become U+FFFD, and the string is cut to `max` code points.
 * Hashing the cleaned value guarantees the record read back hashes the same.
 */
export function cleanAuditText(value: string, max: number): string {
  // Most text has neither a NUL nor any surrogate: one scan, and no copies, for it.
  let text = MAY_NEED_CLEANING.test(value) ? value.replace(/\u0000/g, '\uFFFD').replace(LONE_SURROGATE, '\uFFFD') : value;
  if (text.length > max) text = Array.from(text).slice(0, max).join('');
  return text;
}

const optionalText = (value: string | null | undefined, max: number): string | null =>
  value === null || value === undefined ? null : cleanAuditText(value, max);

function cleanDetails(details: AuditDetails | null | undefined): AuditDetails | null {
  if (!details) return null;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(details).slice(0, AUDIT_LIMITS.detailEntries)) {
    out[cleanAuditText(key, AUDIT_LIMITS.detailKey)] = cleanAuditText(String(value), AUDIT_LIMITS.detailValue);
  }
  return out;
}

/** An entry before it takes its place in the chain. */
export type UnsequencedEntry = Omit<AuditEntry, 'seq'>;

/** The event as it will be stored, at `time`: cleaned, bounded, every field present. */
export function prepareAuditEntry(event: AuditEvent, time: Date): UnsequencedEntry {
  return {
    time: new Date(time.getTime()),
    action: event.action,
    outcome: event.outcome,
    problem: event.outcome === 'failure' ? cleanAuditText(event.problem || 'unknown', AUDIT_LIMITS.problem) : null,
    actor: optionalText(event.actor, AUDIT_LIMITS.actor),
    account: optionalText(event.account, AUDIT_LIMITS.account),
    serialNumber: optionalText(event.serialNumber, AUDIT_LIMITS.serialNumber),
    requestId: optionalText(event.requestId, AUDIT_LIMITS.requestId),
    clientIp: optionalText(event.clientIp, AUDIT_LIMITS.clientIp),
    details: cleanDetails(event.details),
  };
}

/**
 * Thrown by a `commit` callback that found nothing to record after all (the change it was to describe
 * did not happen, e.g. another request made it first): nothing was written, and it is not an error.
 */
export class NothingToRecord extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'NothingToRecord';
  }
}

/** Where services report what they did. */
export interface AuditSink {
  /**
   * Resolves once the record is durable; rejects (and the action fails) otherwise. With `commit`, the
   * record is written by it, in the same transaction as the change it describes, instead of on its own.
   */
  record(event: AuditEvent, commit?: (entry: UnsequencedEntry) => Promise<AuditRecord>): Promise<void>;
}
