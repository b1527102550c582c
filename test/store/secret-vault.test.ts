import { rewrapLedgerSecrets } from '../../src/ca/ca-custody';
import { defaultCaSubject } from '../../src/ca/ca-generator';
import { DamagedSecretError, MasterKey, WrongMasterKeyError } from '../../src/ca/master-key';
import { SECRET_PURPOSE, SecretVault } from '../../src/ca/secret-vault';
import { openLedger, type Ledger } from '../../src/store/ledger';
import { SecretRepository } from '../../src/store/secret-repository';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';
import { MASTER_KEY, OTHER_MASTER_KEY } from '../helpers/custody';

jest.setTimeout(120_000);

describe.each(backends())('the secret vault on %s', (backend) => {
  let db: TestDatabase;
  let ledger: Ledger;
  let store: SecretRepository;
  const rows = async () => ({
    versions: await ledger.sql.query<{ version: number }>('SELECT version, salt, verifier FROM master_key_versions ORDER BY version'),
    secrets: await ledger.sql.query('SELECT purpose, key_version, nonce, ciphertext FROM wrapped_secrets ORDER BY purpose'),
  });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    ledger = await openLedger(db.target);
    store = new SecretRepository(ledger.sql);
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
  });
  beforeEach(async () => {
    await ledger.sql.exec('DELETE FROM wrapped_secrets; DELETE FROM master_key_versions;');
  });

  it('wraps a secret with AES-256-GCM under a stored key version, never in clear, and unwraps it on another start', async () => {
    const vault = await SecretVault.open(store, MASTER_KEY);
    const secret = Buffer.from('the private key bytes of a later feature');
    await vault.wrap('ocsp-signer-key', secret);
    const { versions, secrets } = await rows();
    expect(versions.map((v) => Number(v.version))).toEqual([1]);
    expect(secrets).toHaveLength(1);
    const stored = secrets[0] as { key_version: number; nonce: Uint8Array; ciphertext: Uint8Array };
    expect(Number(stored.key_version)).toBe(1);
    expect(Buffer.from(stored.ciphertext)).toHaveLength(secret.length + 16);
    expect(Buffer.from(stored.ciphertext).includes(secret.subarray(0, 8))).toBe(false);

    const again = await SecretVault.open(store, MASTER_KEY);
    expect(await again.unwrap('ocsp-signer-key')).toEqual(secret);
    expect(await again.unwrap('nothing-here')).toBeNull();
    await expect(again.wrap('ocsp-signer-key', Buffer.from('another'))).rejects.toThrow(/already keeps a secret "ocsp-signer-key"/);
    await expect(again.wrap('Not A Purpose', Buffer.from('x'))).rejects.toThrow(/is not a secret purpose/);
  });

  it('binds each ciphertext to its purpose: a wrapped pepper moved into the CA key row does not unwrap', async () => {
    const vault = await SecretVault.open(store, MASTER_KEY);
    await vault.wrap(SECRET_PURPOSE.caKey, Buffer.from('ca key'));
    await vault.wrap(SECRET_PURPOSE.tokenPepper, Buffer.from('p'.repeat(32)));
    await ledger.sql.query(
      `UPDATE wrapped_secrets SET nonce = p.nonce, ciphertext = p.ciphertext FROM wrapped_secrets p WHERE wrapped_secrets.purpose = $1 AND p.purpose = $2`,
      [SECRET_PURPOSE.caKey, SECRET_PURPOSE.tokenPepper],
    );
    await expect(vault.unwrap(SECRET_PURPOSE.caKey)).rejects.toThrow(DamagedSecretError);
    expect(await vault.unwrap(SECRET_PURPOSE.tokenPepper)).toEqual(Buffer.from('p'.repeat(32)));
  });

  it('refuses a wrong master key before writing anything', async () => {
    await (await SecretVault.open(store, MASTER_KEY)).wrap(SECRET_PURPOSE.tokenPepper, Buffer.from('pepper'));
    const before = await rows();
    await expect(SecretVault.open(store, OTHER_MASTER_KEY)).rejects.toThrow(WrongMasterKeyError);
    expect(await rows()).toEqual(before);
  });

  it('rewraps every secret to a new master key version in one transaction; afterwards only the new key opens them', async () => {
    const vault = await SecretVault.open(store, MASTER_KEY);
    await vault.wrap(SECRET_PURPOSE.caKey, Buffer.from('ca key'));
    await vault.wrap(SECRET_PURPOSE.tokenPepper, Buffer.from('pepper'));
    const before = await rows();
    await expect(rewrapLedgerSecrets(ledger.sql, OTHER_MASTER_KEY, `${OTHER_MASTER_KEY}-new`)).rejects.toThrow(/cannot unwrap the secrets: wrong MTLS_CA_MASTER_KEY\?/);
    await expect(rewrapLedgerSecrets(ledger.sql, MASTER_KEY, MASTER_KEY)).rejects.toThrow(/the same as the old one/);
    expect(await rows()).toEqual(before);

    expect(await rewrapLedgerSecrets(ledger.sql, MASTER_KEY, OTHER_MASTER_KEY)).toEqual({ version: 2, count: 2 });
    const after = await rows();
    expect(after.versions.map((v) => Number(v.version))).toEqual([2]);
    expect(after.secrets.map((s) => Number((s as { key_version: number }).key_version))).toEqual([2, 2]);
    await expect(SecretVault.open(store, MASTER_KEY)).rejects.toThrow(WrongMasterKeyError);
    const renewed = await SecretVault.open(store, OTHER_MASTER_KEY);
    expect(renewed.keyVersion).toBe(2);
    expect(await renewed.unwrap(SECRET_PURPOSE.caKey)).toEqual(Buffer.from('ca key'));
    expect(await renewed.unwrap(SECRET_PURPOSE.tokenPepper)).toEqual(Buffer.from('pepper'));
  });

  it('leaves everything as it was when a rewrap fails half-way', async () => {
    const vault = await SecretVault.open(store, MASTER_KEY);
    await vault.wrap(SECRET_PURPOSE.caKey, Buffer.from('ca key'));
    await vault.wrap(SECRET_PURPOSE.tokenPepper, Buffer.from('pepper'));
    // Damage the second secret in the rewrap's order (by purpose): the pepper is rewrapped first, then the CA key fails.
    await ledger.sql.query(`UPDATE wrapped_secrets SET ciphertext = '\\x00'::bytea || ciphertext WHERE purpose = $1`, [SECRET_PURPOSE.caKey]);
    const before = await rows();
    await expect(rewrapLedgerSecrets(ledger.sql, MASTER_KEY, OTHER_MASTER_KEY)).rejects.toThrow(DamagedSecretError);
    expect(await rows()).toEqual(before);
    expect(await (await SecretVault.open(store, MASTER_KEY)).unwrap(SECRET_PURPOSE.tokenPepper)).toEqual(Buffer.from('pepper'));
  });
});

describe('master keys and generated CA names', () => {
  it('needs at least 32 characters for a new master key', async () => {
    await expect(MasterKey.create('short', 1)).rejects.toThrow(/at least 32 characters/);
  });

  it('names each generated root uniquely when CA_SUBJECT is not set', () => {
    const names = new Set(Array.from({ length: 20 }, () => defaultCaSubject()));
    expect(names.size).toBe(20);
    for (const name of names) expect(name).toMatch(/^CN=mtls-ca Root CA [0-9A-F]{6},O=mtls-ca$/);
  });
});
