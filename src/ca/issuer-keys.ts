import { createPrivateKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CaKeyBackend } from './ca-identity';
import type { IssuerRecord } from './issuer-set';
import type { SecretVault } from './secret-vault';
import { CaError } from '../domain/errors';
import { SecretRepository } from '../store/secret-repository';
import type { SqlDatabase, SqlRunner } from '../store/sql';

/** Where a new issuer's key is kept. */
export type NewIssuerKeyBackend = 'ledger' | 'file';

/**
 * Custody of the keys of issuers made by rotation (the original issuer's key is the CA custody's): wrapped
 * in the ledger by MTLS_CA_MASTER_KEY (every replica can load it), or, on the embedded database only, a
 * file in the data directory (CA_KEY_PASSPHRASE-encrypted when set).
 */
export class IssuerKeys {
  constructor(
    private readonly deps: {
      readonly db: SqlDatabase;
      readonly vault: SecretVault | null;
      readonly dataDir: string;
      readonly passphrase?: string;
      /** Where the original issuer keeps its key. */
      readonly originalBackend: CaKeyBackend;
    },
  ) {}

  /** Where a new issuer's key goes, or a 409 when no place would serve every replica. */
  backendForNew(): NewIssuerKeyBackend {
    if (this.deps.originalBackend === 'pkcs11') {
      throw new CaError('conflict', 'this CA keeps its key in a PKCS#11 token; rotating to a new token key is not supported by this version (a software key would weaken custody)');
    }
    if (this.deps.vault) return 'ledger';
    if (this.deps.db.kind === 'pglite') return 'file';
    throw new CaError(
      'conflict',
      'a new issuer key kept in one replica\'s files would be missing on the others: set MTLS_CA_MASTER_KEY (the same on every replica) so that the key is wrapped in the ledger, then rotate',
    );
  }

  /** Keeps a new issuer's key, inside the transaction that records the issuer. */
  async store(tx: SqlRunner, id: string, key: KeyObject, backend: NewIssuerKeyBackend): Promise<void> {
    if (backend === 'ledger') await this.deps.vault!.on(new SecretRepository(tx)).wrap(keyPurpose(id), key.export({ format: 'der', type: 'pkcs8' }));
    else await writeKeyFile(keyFile(this.deps.dataDir, id), key, this.deps.passphrase);
  }

  /** The private key of a rotated issuer; throws when this replica cannot load it. */
  async load(record: IssuerRecord): Promise<KeyObject> {
    if (record.backend === 'ledger') {
      const der = this.deps.vault ? await this.deps.vault.unwrap(keyPurpose(record.id)) : null;
      if (!der) throw new Error(`issuer ${record.id} keeps its key wrapped in the ledger: set MTLS_CA_MASTER_KEY`);
      return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    }
    if (record.backend === 'file') {
      const pem = await fs.readFile(keyFile(this.deps.dataDir, record.id), 'utf8');
      return createPrivateKey({ key: pem, format: 'pem', passphrase: this.deps.passphrase });
    }
    throw new Error(`issuer ${record.id} keeps its key in a PKCS#11 token, which this version cannot load for a second issuer`);
  }
}

/** The vault purpose of an issuer's wrapped key (the original keeps `ca-key`). */
const keyPurpose = (id: string) => `ca-key:${id}`;
const keyFile = (dataDir: string, id: string) => path.join(dataDir, 'ca', 'issuers', `${id}.key`);

async function writeKeyFile(file: string, key: KeyObject, passphrase?: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const pem = passphrase
    ? key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase })
    : key.export({ format: 'pem', type: 'pkcs8' });
  await fs.writeFile(file, pem, { mode: 0o600, flag: 'wx' });
}
