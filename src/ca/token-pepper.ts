import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CaLoadError } from './ca-errors';
import { SECRET_PURPOSE, type SecretVault } from './secret-vault';

export interface PepperSources {
  readonly dataDir: string;
  /** API_TOKEN_PEPPER. */
  readonly fromEnv?: string;
  /** Set with MTLS_CA_MASTER_KEY: the pepper lives wrapped in the ledger. */
  readonly vault: SecretVault | null;
  /** The ledger already holds API keys (a new pepper would silently refuse them all). */
  readonly hasApiKeys: boolean;
}

export interface ResolvedPepper {
  readonly pepper: Buffer;
  /** How this start got it. */
  readonly source: 'ledger' | 'env' | 'file' | 'generated';
  /** True when this start wrapped it into the ledger. */
  readonly wrapped: boolean;
}

export function pepperFile(dataDir: string): string {
  return path.join(dataDir, 'token-pepper');
}

/**
 * The server-side secret that keys API token hashes. With the master key it is kept wrapped in the
 * ledger (adopted once from API_TOKEN_PEPPER or the data directory's file, else generated). Without it:
 * API_TOKEN_PEPPER, else the data directory's file (generated once, mode 0600). A replica never makes a
 * new pepper for a ledger that already has API keys. Call it under the custody lock.
 */
export async function resolveTokenPepper(sources: PepperSources): Promise<ResolvedPepper> {
  const envPepper = sources.fromEnv ? Buffer.from(sources.fromEnv, 'utf8') : undefined;
  if (sources.vault) {
    const stored = await sources.vault.unwrap(SECRET_PURPOSE.tokenPepper);
    if (stored) {
      if (envPepper && !envPepper.equals(stored)) {
        throw new CaLoadError('API_TOKEN_PEPPER differs from the pepper this ledger keeps wrapped by MTLS_CA_MASTER_KEY: unset API_TOKEN_PEPPER');
      }
      return { pepper: stored, source: 'ledger', wrapped: false };
    }
    const found = envPepper ? { pepper: envPepper, source: 'env' as const } : await readPepperFile(sources.dataDir);
    if (!found && sources.hasApiKeys) throw missingPepper();
    const adopted = found ?? { pepper: randomBytes(32), source: 'generated' as const };
    await sources.vault.wrap(SECRET_PURPOSE.tokenPepper, adopted.pepper);
    return { ...adopted, wrapped: true };
  }
  if (envPepper) return { pepper: envPepper, source: 'env', wrapped: false };
  const found = await readPepperFile(sources.dataDir);
  if (found) return { ...found, wrapped: false };
  if (sources.hasApiKeys) throw missingPepper();
  await fs.mkdir(sources.dataDir, { recursive: true, mode: 0o700 });
  try {
    await fs.writeFile(pepperFile(sources.dataDir), randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const written = await readPepperFile(sources.dataDir);
  return { pepper: written!.pepper, source: 'generated', wrapped: false };
}

async function readPepperFile(dataDir: string): Promise<{ pepper: Buffer; source: 'file' } | null> {
  try {
    return { pepper: Buffer.from((await fs.readFile(pepperFile(dataDir), 'utf8')).trim(), 'base64'), source: 'file' };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return null;
  }
}

function missingPepper(): CaLoadError {
  return new CaLoadError(
    'this ledger holds API keys but this replica has no token pepper to check them (no API_TOKEN_PEPPER, no token-pepper file in MTLS_CA_DATA_DIR): ' +
      'set MTLS_CA_MASTER_KEY (the pepper is then kept in the ledger), or API_TOKEN_PEPPER to the pepper of the replica that made the keys. Refusing to start.',
  );
}
