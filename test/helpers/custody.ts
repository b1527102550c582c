import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { SECRET_PURPOSE } from '../../src/ca/secret-vault';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { TokenHasher } from '../../src/domain/api-key';
import { expandPermissions } from '../../src/domain/permissions';
import { startService, type Service } from '../../src/service';
import { migrate, readMigrations } from '../../src/store/migrations';
import { openPglite } from '../../src/store/pglite';
import { openPostgres } from '../../src/store/postgres';
import type { LedgerTarget } from '../../src/store/ledger';
import type { SqlDatabase } from '../../src/store/sql';
import { ADMIN, headersOf, testServiceEnv } from './test-service';

/** A master key as an operator would make one (openssl rand -base64 32). */
export const MASTER_KEY = 'k5Gm1y0bqZ2mSx8u5J8b0m2m3QhWcI9yKcXlqv3pZ4E=';
export const OTHER_MASTER_KEY = 'Q0dtWkq7u0yGvY3c4bq8mFvM1h2wE5c9Zr7oXn6aT1s=';

export interface Started {
  readonly service: Service;
  readonly http: ReturnType<typeof request>;
  close(): Promise<void>;
}

/** startService on a given ledger and data directory (PGlite's ledger may live apart from the data dir). */
export async function startOn(target: LedgerTarget, dataDir: string, env: Record<string, string> = {}, logger?: Logger): Promise<Started> {
  const config = loadConfig(testServiceEnv(dataDir, env));
  const service = await startService(config, logger ?? pino({ level: process.env.MTLS_CA_TEST_LOG ?? 'silent' }, pino.destination(2)), { ledgerTarget: target });
  return { service, http: request(service.app), close: () => service.close() };
}

/** A logger that keeps every line, to assert on what a start said. */
export function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** The raw database of a target, without migrating it (PGlite: only while no service has it open). */
export async function rawDatabase(target: LedgerTarget): Promise<SqlDatabase> {
  if (target.kind === 'postgres') return openPostgres(target.url, { poolSize: 2, timeoutMs: 10_000 }).db;
  if (target.dataDir) await fs.mkdir(target.dataDir, { recursive: true });
  return (await openPglite(target.dataDir ? path.resolve(target.dataDir, 'pglite') : undefined)).db;
}

/** Everything a refused start could have changed: a hash of every row of every table (migrations included). */
export async function ledgerSnapshot(target: LedgerTarget): Promise<Record<string, string[]>> {
  const db = await rawDatabase(target);
  try {
    const tables = await db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'rate_limit_counters' ORDER BY table_name`,
    );
    const snapshot: Record<string, string[]> = {};
    for (const { name } of tables) {
      // Null columns left out, so a later migration's new nullable column does not read as a write.
      const rows = await db.query<{ row: string }>(`SELECT json_strip_nulls(row_to_json(t))::text AS row FROM "${name}" t`);
      snapshot[name] = rows.map((r) => createHash('sha256').update(r.row).digest('hex')).sort();
    }
    return snapshot;
  } finally {
    await db.close();
  }
}

/**
 * A ledger as the previous version left it: migrations 0001-0006 only, and the first admin key hashed
 * with `pepper` (the previous version's CA files and pepper file are made by the caller).
 */
export async function previousVersionLedger(target: LedgerTarget, pepper: Buffer, options: { certificateIssuedBy?: string } = {}): Promise<void> {
  const db = await rawDatabase(target);
  try {
    const migrations = (await readMigrations()).filter((m) => m.name < '0007');
    expect(migrations.map((m) => m.name.slice(0, 4))).toEqual(['0001', '0002', '0003', '0004', '0005', '0006']);
    await migrate(db, migrations);
    await db.query(`INSERT INTO api_keys (app_key, account, permissions, token_hash, created_at) VALUES ($1, 'platform', $2, $3, now())`, [
      ADMIN.appKey,
      expandPermissions(['role:admin']),
      new TokenHasher(pepper).hash(ADMIN.appToken),
    ]);
    if (options.certificateIssuedBy) {
      await db.query(
        `INSERT INTO certificates (serial_number, account, common_name, subject, public_key_sha256, not_before, not_after, issuer_key_id, pem, issued_at, requested_by)
         VALUES ('0A0B0C', 'acme', 'app', 'CN=app', $1, now(), now() + interval '1 day', $2, 'PEM', now(), 'test')`,
        ['0'.repeat(64), options.certificateIssuedBy],
      );
    }
  } finally {
    await db.close();
  }
}

export const adminHeaders = headersOf(ADMIN);

/**
 * The private bytes of the CA key this service signs with, as they could appear on disk. The CA holds
 * only a signer, so the key is read where a service with MTLS_CA_MASTER_KEY keeps it (the ledger) and
 * checked to be the CA certificate's.
 */
export async function caPrivateBytes(service: Service): Promise<Buffer[]> {
  const der = await service.vault!.unwrap(SECRET_PURPOSE.caKey);
  const keyObject = createPrivateKey({ key: der!, format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  if (!spki.equals(Buffer.from(service.ca.certificate.publicKey.rawData))) throw new Error('the ledger keeps another key than the CA certificate holds');
  const jwk = keyObject.export({ format: 'jwk' });
  return [keyObject.export({ format: 'der', type: 'pkcs8' }), Buffer.from(jwk.d as string, 'base64url')];
}

/** Every file under `dir`, recursively. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** Asserts that no file under `dir` holds a PEM private key or any of `secrets` (raw, hex or base64). */
export async function expectNoSecretsIn(dir: string, secrets: Buffer[]): Promise<void> {
  const files = await filesUnder(dir);
  for (const file of files) {
    const bytes = await fs.readFile(file);
    expect({ file, pem: bytes.includes('PRIVATE KEY') }).toEqual({ file, pem: false });
    for (const secret of secrets) {
      for (const form of [secret, Buffer.from(secret.toString('base64')), Buffer.from(secret.toString('hex'))]) {
        expect({ file, found: bytes.includes(form) }).toEqual({ file, found: false });
      }
    }
  }
}
