import { CaError } from './errors';

/** RFC 5280 CRLReason codes that mtls-ca accepts. certificateHold (6) and removeFromCRL (8) are refused: revocation is final. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof REVOCATION_REASONS;

const BY_CODE = new Map<number, RevocationReason>(
  Object.entries(REVOCATION_REASONS).map(([name, code]) => [code, name as RevocationReason]),
);

export function reasonCode(reason: RevocationReason): number {
  return REVOCATION_REASONS[reason];
}

export function reasonFromCode(code: number): RevocationReason {
  const reason = BY_CODE.get(code);
  if (!reason) throw new Error(`unknown revocation reason code ${code}`);
  return reason;
}

/** Parses a reason given by name (case-insensitive) or numeric code. */
export function parseRevocationReason(input: string | number | undefined | null): RevocationReason {
  if (input === undefined || input === null || input === '') return 'unspecified';
  const text = String(input).trim();
  if (/^(certificatehold|removefromcrl|6|8)$/i.test(text)) {
    throw new CaError('invalid-revocation-reason', `${text} is not accepted: revocation is final (no certificateHold / removeFromCRL)`);
  }
  if (/^\d{1,2}$/.test(text)) {
    const reason = BY_CODE.get(Number(text));
    if (reason) return reason;
  }
  const byName = (Object.keys(REVOCATION_REASONS) as RevocationReason[]).find((r) => r.toLowerCase() === text.toLowerCase());
  if (byName) return byName;
  throw new CaError(
    'invalid-revocation-reason',
    `unknown revocation reason "${text.slice(0, 40)}"; use one of ${Object.keys(REVOCATION_REASONS).join(', ')} or its RFC 5280 code`,
  );
}
