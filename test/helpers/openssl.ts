import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const FIXTURES = path.join(__dirname, '..', 'fixtures');

export async function fixture(name: string): Promise<Buffer> {
  return fs.readFile(path.join(FIXTURES, name));
}

export async function tempDir(prefix = 'mtls-ca-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function openssl(args: string[], options: { cwd?: string; input?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await run('openssl', args, { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
  return { stdout, stderr };
}

/** Runs openssl and returns its exit code and output instead of throwing. */
export async function opensslStatus(args: string[], cwd?: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('openssl', args, { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** A fresh key and CSR made by `openssl req`, as a user would. */
export async function makeCsr(dir: string, name: string, subject: string, keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']): Promise<{ csr: Buffer; csrPath: string; keyPath: string }> {
  const csrPath = path.join(dir, `${name}.csr`);
  const keyPath = path.join(dir, `${name}.key`);
  await openssl(['req', '-new', '-subj', subject, '-out', csrPath, '-nodes', '-keyout', keyPath, '-sha256', ...keyArgs]);
  return { csr: await fs.readFile(csrPath), csrPath, keyPath };
}
