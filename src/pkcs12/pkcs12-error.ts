import { CaError } from '../domain/errors';

/** Why a PKCS#12 file could not be read; `decodePkcs12` answers it as the problem's `reason`. */
export type Pkcs12FailureReason = 'not-pkcs12' | 'wrong-password' | 'unsupported' | 'malformed' | 'too-much-work' | 'no-mac';

/** A 400 from the PKCS#12 readers with its `reason`; decodePkcs12 turns every one into `invalid-pkcs12` (422). */
export function pkcs12Refusal(detail: string, reason: Pkcs12FailureReason, cause?: unknown): CaError {
  return new CaError('invalid-request', detail, { cause, extensions: { reason } });
}
