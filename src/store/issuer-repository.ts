import type { CaKeyBackend } from '../ca/ca-identity';
import type { IssuerRecord, IssuerState } from '../ca/issuer-set';
import type { SqlRunner } from './sql';

interface Row {
  id: string;
  key_id: string;
  spki_sha256: string;
  state: IssuerState;
  backend: CaKeyBackend;
  chain_pem: string | null;
  csr_pem: string | null;
  original: boolean;
  created_at: Date | string;
}

const COLUMNS = 'id, key_id, spki_sha256, state, backend, chain_pem, csr_pem, original, created_at';

function toRecord(r: Row): IssuerRecord {
  return {
    id: r.id,
    keyId: r.key_id,
    spkiSha256: r.spki_sha256,
    state: r.state,
    backend: r.backend,
    chainPem: r.chain_pem,
    csrPem: r.csr_pem,
    original: r.original,
    createdAt: new Date(r.created_at),
  };
}

/** The ledger's issuers (migration 0009) and the version replicas poll to follow a rotation. */
export class IssuerRepository {
  constructor(private readonly sql: SqlRunner) {}

  async version(): Promise<bigint> {
    const [row] = await this.sql.query<{ v: string }>('SELECT version::text AS v FROM ca_issuers_version WHERE id = 1');
    return BigInt(row?.v ?? '0');
  }

  async all(): Promise<IssuerRecord[]> {
    const rows = await this.sql.query<Row>(`SELECT ${COLUMNS} FROM ca_issuers ORDER BY created_at, id`);
    return rows.map(toRecord);
  }

  async get(id: string): Promise<IssuerRecord | null> {
    const rows = await this.sql.query<Row>(`SELECT ${COLUMNS} FROM ca_issuers WHERE id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async insert(r: Omit<IssuerRecord, 'createdAt'>): Promise<void> {
    await this.sql.query(
      `INSERT INTO ca_issuers (id, key_id, spki_sha256, state, backend, chain_pem, csr_pem, original, activated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $4 = 'active' THEN now() END)`,
      [r.id, r.keyId, r.spkiSha256, r.state, r.backend, r.chainPem, r.csrPem, r.original],
    );
    await this.bump();
  }

  async setChain(id: string, chainPem: string, keyId: string): Promise<void> {
    await this.sql.query('UPDATE ca_issuers SET chain_pem = $2, key_id = $3, csr_pem = NULL WHERE id = $1', [id, chainPem, keyId]);
    await this.bump();
  }

  async setOriginalChain(chainPem: string, backend: CaKeyBackend): Promise<void> {
    await this.sql.query('UPDATE ca_issuers SET chain_pem = $1, backend = $2 WHERE original', [chainPem, backend]);
    await this.bump();
  }

  /** The previous active issuer retires and `id` becomes active, in the caller's transaction. */
  async activate(id: string): Promise<void> {
    await this.sql.query("UPDATE ca_issuers SET state = 'retired', retired_at = now() WHERE state = 'active'");
    await this.sql.query("UPDATE ca_issuers SET state = 'active', activated_at = now() WHERE id = $1", [id]);
    await this.bump();
  }

  private async bump(): Promise<void> {
    await this.sql.query('UPDATE ca_issuers_version SET version = version + 1 WHERE id = 1');
  }
}
