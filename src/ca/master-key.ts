import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** MTLS_CA_MASTER_KEY must be at least this long. */
export const MASTER_KEY_MIN_LENGTH = 32;

/** scrypt cost: N = 2^15, r = 8 (32 MiB, about 0.1 s once per start), p = 1. */
export interface KdfParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}
export const DEFAULT_KDF_PARAMS: KdfParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });

/** One version of the master key as the ledger keeps it: how to derive its keys, and how to recognise it. */
export interface MasterKeyRecord {
  readonly version: number;
  readonly kdf: 'scrypt';
  readonly kdfParams: KdfParams;
  readonly salt: Buffer;
  readonly verifier: Buffer;
}

/** A secret sealed under one master-key version (AES-256-GCM; the tag ends the ciphertext). */
export interface WrappedSecret {
  readonly purpose: string;
  readonly keyVersion: number;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
}

export const PURPOSE_PATTERN = /^[a-z0-9][a-z0-9.:-]{0,63}$/;

/** The master key does not derive the verifier of the ledger's current version. */
export class WrongMasterKeyError extends Error {
  constructor(readonly version: number) {
    super(`MTLS_CA_MASTER_KEY does not match master key version ${version} of this ledger`);
    this.name = 'WrongMasterKeyError';
  }
}

/** A wrapped value failed authentication although the master key is right: damaged, or moved from another row. */
export class DamagedSecretError extends Error {}

const TAG_BYTES = 16;

function aad(purpose: string, version: number): Buffer {
  return Buffer.from(`mtls-ca/wrapped-secret/v1\0${purpose}\0${version}`, 'utf8');
}

function deriveRoot(secret: string, salt: Buffer, params: KdfParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret.normalize('NFC'), salt, 32, { ...params, maxmem: 256 * params.N * params.r }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/**
 * The keys one master-key version derives. The KDF is scrypt, not HKDF alone: MTLS_CA_MASTER_KEY is a
 * string an operator chooses, and 32 characters do not promise 256 bits of entropy; scrypt makes every
 * guess against a stolen ledger cost 32 MiB and ~0.1 s, and costs us that once per start. HKDF then
 * splits its output into the AES-256-GCM wrapping key and a separate verifier key.
 */
export class MasterKey {
  private constructor(
    readonly version: number,
    private readonly wrapKey: Buffer,
    private readonly verifier: Buffer,
  ) {}

  /** Derives the keys of an existing version; throws WrongMasterKeyError unless `secret` is that version's key. */
  static async unlock(secret: string, record: MasterKeyRecord): Promise<MasterKey> {
    const key = await MasterKey.derive(secret, record.version, record.salt, record.kdfParams);
    if (key.verifier.length !== record.verifier.length || !timingSafeEqual(key.verifier, record.verifier)) {
      throw new WrongMasterKeyError(record.version);
    }
    return key;
  }

  /** A new version with a fresh random salt, and the record that lets the ledger recognise it later. */
  static async create(secret: string, version: number, params: KdfParams = DEFAULT_KDF_PARAMS): Promise<{ key: MasterKey; record: MasterKeyRecord }> {
    if (secret.length < MASTER_KEY_MIN_LENGTH) throw new Error(`a master key must be at least ${MASTER_KEY_MIN_LENGTH} characters`);
    const salt = randomBytes(32);
    const key = await MasterKey.derive(secret, version, salt, params);
    return { key, record: { version, kdf: 'scrypt', kdfParams: params, salt, verifier: key.verifier } };
  }

  private static async derive(secret: string, version: number, salt: Buffer, params: KdfParams): Promise<MasterKey> {
    const root = await deriveRoot(secret, salt, params);
    const wrapKey = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'mtls-ca wrapping key v1', 32));
    const checkKey = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'mtls-ca verifier key v1', 32));
    const verifier = createHmac('sha256', checkKey).update('mtls-ca master key verifier').digest();
    return new MasterKey(version, wrapKey, verifier);
  }

  seal(purpose: string, plaintext: Uint8Array): WrappedSecret {
    if (!PURPOSE_PATTERN.test(purpose)) throw new Error(`"${purpose}" is not a secret purpose (${PURPOSE_PATTERN})`);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.wrapKey, nonce);
    cipher.setAAD(aad(purpose, this.version));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { purpose, keyVersion: this.version, nonce, ciphertext };
  }

  open(wrapped: WrappedSecret): Buffer {
    if (wrapped.keyVersion !== this.version) {
      throw new DamagedSecretError(`the secret "${wrapped.purpose}" is wrapped under master key version ${wrapped.keyVersion}, not ${this.version}`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.wrapKey, wrapped.nonce);
      decipher.setAAD(aad(wrapped.purpose, wrapped.keyVersion));
      decipher.setAuthTag(wrapped.ciphertext.subarray(wrapped.ciphertext.length - TAG_BYTES));
      return Buffer.concat([decipher.update(wrapped.ciphertext.subarray(0, wrapped.ciphertext.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new DamagedSecretError(`the wrapped secret "${wrapped.purpose}" fails authentication: it was damaged or moved from another row`);
    }
  }
}
