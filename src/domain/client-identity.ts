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
   * 'conflict' for one without a usable certificate yet (a CSR still waiting for the partner's CA).
   */
  tlsMaterial(account: string, identityId: string): Promise<ClientTlsMaterial>;
}
