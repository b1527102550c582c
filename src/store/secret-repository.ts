import type { KdfParams, MasterKeyRecord, WrappedSecret } from '../ca/master-key';
import type { SecretStore } from '../ca/secret-vault';
import type { SqlRunner } from './sql';

interface MasterKeyRow {
  version: number;
  kdf: 'scrypt';
  kdf_params: KdfParams | string;
  salt: Uint8Array;
  verifier: Uint8Array;
}

interface SecretRow {
  purpose: string;
  key_version: number;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

const toSecret = (r: SecretRow): WrappedSecret => ({
  purpose: r.purpose,
  keyVersion: Number(r.key_version),
  nonce: Buffer.from(r.nonce),
  ciphertext: Buffer.from(r.ciphertext),
});

/** Master-key versions and wrapped secrets (migration 0008). */
export class SecretRepository implements SecretStore {
  constructor(private readonly sql: SqlRunner) {}

  async masterKeys(): Promise<MasterKeyRecord[]> {
    const rows = await this.sql.query<MasterKeyRow>('SELECT version, kdf, kdf_params, salt, verifier FROM master_key_versions ORDER BY version');
    return rows.map((r) => ({
      version: Number(r.version),
      kdf: r.kdf,
      kdfParams: typeof r.kdf_params === 'string' ? (JSON.parse(r.kdf_params) as KdfParams) : r.kdf_params,
      salt: Buffer.from(r.salt),
      verifier: Buffer.from(r.verifier),
    }));
  }

  async addMasterKey(record: MasterKeyRecord): Promise<void> {
    await this.sql.query('INSERT INTO master_key_versions (version, kdf, kdf_params, salt, verifier) VALUES ($1, $2, $3::jsonb, $4, $5)', [
      record.version,
      record.kdf,
      JSON.stringify(record.kdfParams),
      record.salt,
      record.verifier,
    ]);
  }

  async removeMasterKey(version: number): Promise<void> {
    await this.sql.query('DELETE FROM master_key_versions WHERE version = $1', [version]);
  }

  async get(purpose: string): Promise<WrappedSecret | null> {
    const rows = await this.sql.query<SecretRow>('SELECT purpose, key_version, nonce, ciphertext FROM wrapped_secrets WHERE purpose = $1', [purpose]);
    return rows[0] ? toSecret(rows[0]) : null;
  }

  async all(): Promise<WrappedSecret[]> {
    const rows = await this.sql.query<SecretRow>('SELECT purpose, key_version, nonce, ciphertext FROM wrapped_secrets ORDER BY purpose');
    return rows.map(toSecret);
  }

  async insert(secret: WrappedSecret): Promise<boolean> {
    const rows = await this.sql.query(
      `INSERT INTO wrapped_secrets (purpose, key_version, nonce, ciphertext) VALUES ($1, $2, $3, $4)
       ON CONFLICT (purpose) DO NOTHING RETURNING purpose`,
      [secret.purpose, secret.keyVersion, secret.nonce, secret.ciphertext],
    );
    return rows.length === 1;
  }

  async update(secret: WrappedSecret): Promise<void> {
    await this.sql.query('UPDATE wrapped_secrets SET key_version = $2, nonce = $3, ciphertext = $4, updated_at = now() WHERE purpose = $1', [
      secret.purpose,
      secret.keyVersion,
      secret.nonce,
      secret.ciphertext,
    ]);
  }

  async remove(purpose: string): Promise<boolean> {
    const rows = await this.sql.query('DELETE FROM wrapped_secrets WHERE purpose = $1 RETURNING purpose', [purpose]);
    return rows.length === 1;
  }
}
