import type { CaIdentity, CaIdentityStore, CaKeyBackend } from '../ca/ca-identity';
import type { SqlRunner } from './sql';

/** Any fixed 64-bit number: the advisory lock under which a start resolves the CA and its secrets. */
export const CUSTODY_LOCK_KEY = 7_270_381_156;

/** The pinned CA identity (migration 0008), and what tells whether a ledger has been used before. */
export class CaIdentityRepository implements CaIdentityStore {
  constructor(private readonly sql: SqlRunner) {}

  /** Waits for, then holds until the transaction ends, the custody lock (call on a transaction's runner). */
  async lock(): Promise<void> {
    await this.sql.query('SELECT pg_advisory_xact_lock($1)', [CUSTODY_LOCK_KEY]);
  }

  async get(): Promise<CaIdentity | null> {
    const rows = await this.sql.query<{ chain_pem: string; spki_sha256: string; backend: CaKeyBackend }>(
      'SELECT chain_pem, spki_sha256, backend FROM ca_identity WHERE id = 1',
    );
    const r = rows[0];
    return r ? { chainPem: r.chain_pem, spkiSha256: r.spki_sha256, backend: r.backend } : null;
  }

  async insert(identity: CaIdentity): Promise<void> {
    await this.sql.query('INSERT INTO ca_identity (id, chain_pem, spki_sha256, backend) VALUES (1, $1, $2, $3)', [
      identity.chainPem,
      identity.spkiSha256,
      identity.backend,
    ]);
  }

  async update(identity: CaIdentity): Promise<void> {
    await this.sql.query('UPDATE ca_identity SET chain_pem = $1, spki_sha256 = $2, backend = $3, updated_at = now() WHERE id = 1', [
      identity.chainPem,
      identity.spkiSha256,
      identity.backend,
    ]);
  }

  /** True when a CA already signed something here (certificates or a CRL): a ledger of an earlier version. */
  async hasIssued(): Promise<boolean> {
    const rows = await this.sql.query<{ used: boolean }>('SELECT EXISTS (SELECT 1 FROM certificates) OR EXISTS (SELECT 1 FROM crls) AS used');
    return Boolean(rows[0]?.used);
  }

  /** True when API keys exist, whose hashes need the pepper they were made with. */
  async hasApiKeys(): Promise<boolean> {
    const rows = await this.sql.query<{ used: boolean }>('SELECT EXISTS (SELECT 1 FROM api_keys) AS used');
    return Boolean(rows[0]?.used);
  }
}
