import type { CaKeyBackend } from '../ca/ca-identity';
import type { IssuerRecord, LoadedIssuer } from '../ca/issuer-set';

/** An issuer as the API and the CLI show it. */
export interface IssuerView {
  readonly id: string;
  readonly keyId: string;
  readonly state: IssuerRecord['state'];
  readonly original: boolean;
  readonly backend: CaKeyBackend;
  readonly subject: string | null;
  readonly notBefore: string | null;
  readonly notAfter: string | null;
  /** PEM; null while waiting for the offline root's signature. */
  readonly certificate: string | null;
}

export function viewOf(i: LoadedIssuer): IssuerView {
  return {
    id: i.record.id,
    keyId: i.record.keyId,
    state: i.record.state,
    original: i.record.original,
    backend: i.record.backend,
    subject: i.certificate?.subject ?? null,
    notBefore: i.certificate?.notBefore.toISOString() ?? null,
    notAfter: i.certificate?.notAfter.toISOString() ?? null,
    certificate: i.certificate ? i.certificate.toString('pem') + '\n' : null,
  };
}
