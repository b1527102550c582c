import { createHash } from 'node:crypto';
import { X509Certificate } from '@peculiar/x509';
import { decodePem } from '../domain/pem';

/** Where the CA private key is kept: files of a replica, wrapped in the ledger, or a PKCS#11 token. */
export type CaKeyBackend = 'file' | 'ledger' | 'pkcs11';

/** The CA identity the ledger pins: enough to recognise the key without holding it (fits an HSM key too). */
export interface CaIdentity {
  /** The CA certificate followed by the certificates above it. */
  readonly chainPem: string;
  /** SHA-256 of the CA key's SubjectPublicKeyInfo (DER), hex. */
  readonly spkiSha256: string;
  readonly backend: CaKeyBackend;
}

/** What the ledger stores (src/store/ca-identity-repository.ts). */
export interface CaIdentityStore {
  get(): Promise<CaIdentity | null>;
  insert(identity: CaIdentity): Promise<void>;
  update(identity: CaIdentity): Promise<void>;
}

/** A start-up refused because the CA found is not the ledger's. */
export class CaIdentityMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaIdentityMismatchError';
  }
}

export function spkiSha256(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('hex');
}

/** The subject of the first certificate of a chain, for messages. */
export function chainSubject(chainPem: string): string {
  const first = decodePem(chainPem).find((b) => b.label === 'CERTIFICATE');
  return first ? new X509Certificate(new Uint8Array(first.der)).subject : '(no certificate)';
}

export type PinOutcome = 'pinned' | 'verified' | 'updated';

/**
 * The first call on a ledger pins `candidate`; later calls accept only the same key (SPKI SHA-256).
 * The same key with another chain or backend (a renewed certificate, a key moved into the ledger)
 * updates the pin. Call it under the custody lock.
 */
export async function pinOrVerify(store: CaIdentityStore, candidate: CaIdentity): Promise<PinOutcome> {
  const pinned = await store.get();
  if (!pinned) {
    await store.insert(candidate);
    return 'pinned';
  }
  if (pinned.spkiSha256 !== candidate.spkiSha256) throw new CaIdentityMismatchError(mismatchMessage(pinned, candidate));
  if (pinned.chainPem === candidate.chainPem && pinned.backend === candidate.backend) return 'verified';
  await store.update(candidate);
  return 'updated';
}

function mismatchMessage(pinned: CaIdentity, found: CaIdentity): string {
  return [
    `this ledger belongs to another CA: it is pinned to "${chainSubject(pinned.chainPem)}" (key SPKI SHA-256 ${pinned.spkiSha256}, kept in ${pinned.backend}),`,
    `but this replica found "${chainSubject(found.chainPem)}" (key SPKI SHA-256 ${found.spkiSha256}, from ${found.backend}).`,
    'Give this replica the ledger\'s CA (the same MTLS_CA_MASTER_KEY, or that CA\'s CA_CERT_FILE/CA_KEY_FILE), or point it at its own DATABASE_URL.',
    'Refusing to start: one ledger serves exactly one CA.',
  ].join(' ');
}
