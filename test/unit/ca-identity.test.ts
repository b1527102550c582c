import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaIdentityMismatchError, pinOrVerify, type CaIdentity, type CaIdentityStore } from '../../src/ca/ca-identity';
import { FIXTURES } from '../helpers/openssl';

/** The store as a variable, to watch every write. */
function memoryStore(): CaIdentityStore & { row: CaIdentity | null; writes: number } {
  const store = {
    row: null as CaIdentity | null,
    writes: 0,
    get: async () => store.row,
    insert: async (i: CaIdentity) => void ((store.row = i), store.writes++),
    update: async (i: CaIdentity) => void ((store.row = i), store.writes++),
  };
  return store;
}

const chainPem = readFileSync(path.join(FIXTURES, 'certificate.pem'), 'utf8');
const ours: CaIdentity = { chainPem, spkiSha256: 'a'.repeat(64), backend: 'file' };

describe('the pinned CA identity', () => {
  it('pins the first CA, then verifies the same key without writing', async () => {
    const store = memoryStore();
    expect(await pinOrVerify(store, ours)).toBe('pinned');
    expect(await pinOrVerify(store, ours)).toBe('verified');
    expect(store.writes).toBe(1);
  });

  it('updates the pin for the same key moved into the ledger or with a renewed certificate', async () => {
    const store = memoryStore();
    await pinOrVerify(store, ours);
    expect(await pinOrVerify(store, { ...ours, backend: 'ledger' })).toBe('updated');
    expect(store.row?.backend).toBe('ledger');
    expect(await pinOrVerify(store, { ...ours, backend: 'ledger', chainPem: chainPem + chainPem })).toBe('updated');
  });

  it('refuses another key with a message naming both key ids and what to do, and writes nothing', async () => {
    const store = memoryStore();
    await pinOrVerify(store, ours);
    const other: CaIdentity = { ...ours, spkiSha256: 'b'.repeat(64), backend: 'pkcs11' };
    const error = await pinOrVerify(store, other).catch((e: Error) => e);
    expect(error).toBeInstanceOf(CaIdentityMismatchError);
    expect((error as Error).message).toContain('a'.repeat(64));
    expect((error as Error).message).toContain('b'.repeat(64));
    expect((error as Error).message).toMatch(/MTLS_CA_MASTER_KEY.*CA_CERT_FILE\/CA_KEY_FILE.*DATABASE_URL/);
    expect(store.writes).toBe(1);
    expect(store.row).toEqual(ours);
  });
});
