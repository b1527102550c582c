import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/openssl';
import { lockDataDir } from '../../src/store/data-dir-lock';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'mtls-ca.js');

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('the mtls-ca CLI (built bin, embedded database)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('creates, lists and revokes keys directly in the data directory', async () => {
    const env = { MTLS_CA_DATA_DIR: dir, LOG_LEVEL: 'silent' };
    const created = await cli(['keys', 'create', '--account', 'acme', '--permissions', 'certificates:sign,certificates:read'], env);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key).toMatchObject({ account: 'acme', permissions: ['certificates:sign', 'certificates:read'], appToken: expect.any(String) });

    const listed = JSON.parse((await cli(['keys', 'list'], env)).stdout);
    expect(listed.items.map((k: { appKey: string }) => k.appKey)).toContain(key.appKey);
    expect(JSON.stringify(listed)).not.toContain(key.appToken);

    const revoked = await cli(['keys', 'revoke', key.appKey], env);
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout).disabledAt).toEqual(expect.any(String));
  }, 60_000);

  it('says clearly when the embedded database is in use by another process', async () => {
    const release = await lockDataDir(path.resolve(dir));
    try {
      // The lock file names this (live) test process.
      const res = await cli(['keys', 'list'], { MTLS_CA_DATA_DIR: dir });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`is in use by process ${process.pid}`);
      expect(res.stderr).toContain('--url');
    } finally {
      await release();
    }
  }, 60_000);

  it('rejects a bad configuration naming the variable', async () => {
    const res = await cli(['keys', 'list'], { MTLS_CA_DATA_DIR: dir, PORT: 'x' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('PORT');
  });
});
