import { MasterKey, WrongMasterKeyError, type MasterKeyRecord, type WrappedSecret } from './master-key';

/** What the vault needs from the ledger (src/store/secret-repository.ts). */
export interface SecretStore {
  masterKeys(): Promise<MasterKeyRecord[]>;
  addMasterKey(record: MasterKeyRecord): Promise<void>;
  removeMasterKey(version: number): Promise<void>;
  get(purpose: string): Promise<WrappedSecret | null>;
  all(): Promise<WrappedSecret[]>;
  /** Inserts; false when the purpose already has a secret (nothing written). */
  insert(secret: WrappedSecret): Promise<boolean>;
  update(secret: WrappedSecret): Promise<void>;
  /** Deletes the secret of `purpose`; false when there was none. */
  remove(purpose: string): Promise<boolean>;
}

/** The well-known purposes. Later features add their own (`[a-z0-9][a-z0-9.:-]*`). */
export const SECRET_PURPOSE = { caKey: 'ca-key', tokenPepper: 'api-token-pepper' } as const;

/**
 * Secrets kept in the ledger, wrapped by MTLS_CA_MASTER_KEY: `wrap` stores one under a purpose (once),
 * `unwrap` returns it. Opening refuses a master key that is not the ledger's current one, before any write.
 */
export class SecretVault {
  private constructor(
    private readonly store: SecretStore,
    private readonly key: MasterKey,
  ) {}

  /** Unlocks the ledger's current master-key version, or creates version 1 on a ledger that has none. */
  static async open(store: SecretStore, masterKey: string): Promise<SecretVault> {
    const current = newest(await store.masterKeys());
    if (current) return new SecretVault(store, await MasterKey.unlock(masterKey, current));
    const { key, record } = await MasterKey.create(masterKey, 1);
    await store.addMasterKey(record);
    return new SecretVault(store, key);
  }

  get keyVersion(): number {
    return this.key.version;
  }

  /** The same vault over another store (e.g. the ledger outside the start-up transaction). */
  on(store: SecretStore): SecretVault {
    return new SecretVault(store, this.key);
  }

  /** Stores `plaintext` wrapped under `purpose`; refuses to replace an existing secret. */
  async wrap(purpose: string, plaintext: Uint8Array): Promise<void> {
    if (!(await this.store.insert(this.key.seal(purpose, plaintext)))) throw new Error(`the ledger already keeps a secret "${purpose}"`);
  }

  /** Destroys the secret stored under `purpose` (run it in the transaction that drops what used it). */
  async destroy(purpose: string): Promise<boolean> {
    return this.store.remove(purpose);
  }

  /** The secret stored under `purpose`, or null when there is none. */
  async unwrap(purpose: string): Promise<Buffer | null> {
    const wrapped = await this.store.get(purpose);
    return wrapped ? this.key.open(wrapped) : null;
  }
}

function newest(records: MasterKeyRecord[]): MasterKeyRecord | undefined {
  return records.reduce<MasterKeyRecord | undefined>((a, b) => (!a || b.version > a.version ? b : a), undefined);
}

/**
 * Re-wraps every secret from the current master key to `newKey` as a new version, then forgets the old
 * version. Run it inside one transaction: either everything is under the new key or nothing changed.
 */
export async function rewrapSecrets(store: SecretStore, oldKey: string, newKey: string): Promise<{ version: number; count: number }> {
  if (oldKey === newKey) throw new Error('the new master key is the same as the old one');
  const records = await store.masterKeys();
  const current = newest(records);
  if (!current) throw new Error('this ledger keeps no wrapped secrets (MTLS_CA_MASTER_KEY was never used with it)');
  let old: MasterKey;
  try {
    old = await MasterKey.unlock(oldKey, current);
  } catch (e) {
    if (e instanceof WrongMasterKeyError) throw new Error('cannot unwrap the secrets: wrong MTLS_CA_MASTER_KEY? (it must be the key the replicas use now)');
    throw e;
  }
  const { key, record } = await MasterKey.create(newKey, current.version + 1);
  await store.addMasterKey(record);
  const secrets = await store.all();
  for (const secret of secrets) await store.update(key.seal(secret.purpose, old.open(secret)));
  for (const r of records) await store.removeMasterKey(r.version);
  return { version: key.version, count: secrets.length };
}
