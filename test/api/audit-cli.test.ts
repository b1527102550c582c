import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { openLedger } from '../../src/store/ledger';
import { backends, createTestDatabase } from '../helpers/backends';
import { tempDir } from '../helpers/openssl';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'mtls-ca.js');

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function createKeys(env: Record<string, string>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    expect((await cli(['keys', 'create', '--account', `acme${i}`, '--permissions', 'role:tenant'], env)).code).toBe(0);
  }
}

describe('mtls-ca audit verify (built bin)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('reports an intact chain with its head, then the first broken link after a row is changed (embedded database)', async () => {
    const env = { MTLS_CA_DATA_DIR: dir };
    expect(await cli(['audit', 'verify'], env)).toMatchObject({ code: 0, stdout: 'audit trail intact: 0 records (empty)\n' });
    await createKeys(env, 3); // key changes made through the CLI are audited too

    const intact = await cli(['audit', 'verify', '--page-size', '2'], env);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^audit trail intact: 3 records, head seq 3 hash [0-9a-f]{64}\n$/);

    // Tamper as the table owner would: triggers off, change one row, triggers on.
    const ledger = await openLedger({ kind: 'pglite', dataDir: dir });
    try {
      const [row] = await ledger.audit.chainPage(1, 1);
      expect(row).toMatchObject({ seq: 2, action: 'key.create', actor: 'cli', account: 'acme1' });
      await ledger.sql.exec(`ALTER TABLE audit_log DISABLE TRIGGER USER;
        UPDATE audit_log SET account = 'globex' WHERE seq = 2;
        ALTER TABLE audit_log ENABLE TRIGGER USER;`);
    } finally {
      await ledger.close();
    }
    const broken = await cli(['audit', 'verify'], env);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/^audit trail BROKEN at seq 2: hash expected [0-9a-f]{64} found [0-9a-f]{64} \(1 records intact before it\)\n$/);
  }, 120_000);

  it('explains itself and refuses an unknown action', async () => {
    expect((await cli(['audit', '--help'], {})).stdout).toContain('mtls-ca audit verify');
    expect((await cli(['audit', 'rewrite'], { MTLS_CA_DATA_DIR: dir })).code).toBe(2);
    expect((await cli(['audit', 'verify', '--page-size', '0'], { MTLS_CA_DATA_DIR: dir })).code).toBe(1);
  });
});

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

postgresOnly('mtls-ca audit verify on PostgreSQL', () => {
  it('names the first missing record after a row is deleted behind the triggers', async () => {
    const db = await createTestDatabase('postgres');
    const dir = await tempDir();
    try {
      const env = { DATABASE_URL: db.url!, MTLS_CA_DATA_DIR: dir };
      await createKeys(env, 4);
      expect((await cli(['audit', 'verify'], env)).stdout).toMatch(/intact: 4 records/);

      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        await expect(client.query('DELETE FROM audit_log WHERE seq = 3')).rejects.toThrow(/append-only/);
        // A superuser can silence ordinary triggers for its session; the chain still tells.
        await client.query("SET session_replication_role = 'replica'");
        await client.query('DELETE FROM audit_log WHERE seq = 3');
      } finally {
        await client.end();
      }
      const broken = await cli(['audit', 'verify'], env);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain('BROKEN at seq 4: seq expected 3 found 4 (2 records intact before it)');
    } finally {
      await db.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
