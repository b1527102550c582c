/**
 * A client identity's TLS material, as the outgoing side (the forwarder, the egress proxy, webhook
 * deliveries) presents it to a partner. The private key is unwrapped in memory for the connection and
 * never leaves the process.
 */
export interface ClientTlsMaterial {
  readonly identityId: string;
  readonly account: string;
  /** PKCS#8 PEM of the private key (in memory only; Node's TLS takes PEM). */
  readonly keyPem: string;
  /** The leaf certificate, PEM. */
  readonly certificatePem: string;
  /** Intermediates above the leaf, PEM each, leaf's issuer first (no trust anchor needed). */
  readonly chainPem: readonly string[];
  /** Changes whenever the identity's key or certificate changes (connection pools key on it). */
  readonly version: string;
}

/** Where the outgoing side gets an identity's TLS material. */
export interface IdentityKeyring {
  /**
   * The TLS material of `identityId`, which must belong to `account` (admins pass the identity's own
   * account). Throws CaError 'not-found' for an unknown identity or one of another account, and
   * 'conflict' for one without a usable certificate (a CSR still waiting for the partner's CA, or a
   * certificate that expired or is not valid yet): an identity is never presented outside its validity.
   */
  tlsMaterial(account: string, identityId: string): Promise<ClientTlsMaterial>;
}

/** Where an identity's certificate came from. */
export type IdentityOrigin = 'issued' | 'partner-ca' | 'imported';
export type IdentityState = 'pending-certificate' | 'not-yet-valid' | 'active' | 'expired';
/** The key types the service generates. */
export const GENERATED_KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072'] as const;
export type GeneratedKeyType = (typeof GENERATED_KEY_TYPES)[number];

/** A client identity as the ledger keeps it: never its private key (that is a wrapped secret). */
export interface ClientIdentity {
  readonly id: string;
  readonly account: string;
  readonly name: string;
  readonly origin: IdentityOrigin;
  /** e.g. `EC-P-256`, `RSA-2048`. */
  readonly keyType: string;
  readonly publicKeySha256: string;
  readonly exportable: boolean;
  readonly csrPem: string | null;
  readonly certificatePem: string | null;
  readonly chainPem: readonly string[];
  readonly fingerprintSha256: string | null;
  readonly serialNumber: string | null;
  readonly subject: string | null;
  readonly issuer: string | null;
  readonly notBefore: Date | null;
  readonly notAfter: Date | null;
  readonly revision: number;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export function identityState(identity: Pick<ClientIdentity, 'certificatePem' | 'notBefore' | 'notAfter'>, now: Date): IdentityState {
  if (identity.certificatePem === null || identity.notAfter === null) return 'pending-certificate';
  if (identity.notAfter.getTime() <= now.getTime()) return 'expired';
  return identity.notBefore !== null && identity.notBefore.getTime() > now.getTime() ? 'not-yet-valid' : 'active';
}

/** The wrapped-secret purpose under which an identity's private key is kept. */
export const identityKeyPurpose = (id: string): string => `identity-key:${id}`;
