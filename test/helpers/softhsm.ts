import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runInThisContext } from 'node:vm';

const MODULES = [
  process.env.MTLS_CA_TEST_SOFTHSM_MODULE,
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

export const TOKEN_PIN = '1234';
export const SO_PIN = '5678';

/** Why the PKCS#11 tests cannot run here (null: they can): pkcs11js and SoftHSM2 are both needed. */
export function softHsmUnavailable(): string | null {
  try {
    require('pkcs11js');
  } catch {
    return 'pkcs11js (optional dependency) is not installed';
  }
  if (!softHsmModule()) return 'the SoftHSM2 module is not installed (apt-get install softhsm2)';
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'softhsm2-util is not on PATH (apt-get install softhsm2)';
  }
  return null;
}

export function softHsmModule(): string | undefined {
  return MODULES.find((m) => m !== undefined && existsSync(m));
}

/**
 * A token directory of this test file's own, and SOFTHSM2_CONF pointing at it. Call at the top of
 * the test file: SoftHSM2 reads the variable when the module is initialised in this process.
 */
export function useSoftHsmDirectory(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mtls-ca-softhsm-'));
  mkdirSync(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  // Jest hands a test file a copy of process.env; the module reads the worker's real environment (getenv).
  (runInThisContext('process') as NodeJS.Process).env.SOFTHSM2_CONF = conf;
  return dir;
}

/** Initialises a token (before the module is first opened in this process, or between closes). */
export function initToken(label: string, pin = TOKEN_PIN): void {
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', SO_PIN], { stdio: 'ignore', env: process.env });
}

export function tokenUri(token: string, object: string, extra = ''): string {
  return `pkcs11:token=${token};object=${object}?module-path=${softHsmModule()}${extra}`;
}
