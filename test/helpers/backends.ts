import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { LedgerTarget } from '../../src/store/ledger';

export type BackendName = 'pglite' | 'postgres';

/** PGlite always; PostgreSQL too when MTLS_CA_TEST_POSTGRES_URL names a server (CI sets it). */
export function backends(): BackendName[] {
  return process.env.MTLS_CA_TEST_POSTGRES_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestDatabase {
  readonly target: LedgerTarget;
  /** Connection URL (postgres only). */
  readonly url?: string;
  drop(): Promise<void>;
}

/** A fresh, empty database of its own for one test file, so runs never collide. */
export async function createTestDatabase(backend: BackendName): Promise<TestDatabase> {
  if (backend === 'pglite') return { target: { kind: 'pglite' }, drop: async () => undefined };
  const admin = process.env.MTLS_CA_TEST_POSTGRES_URL as string;
  const name = `mtlsca_test_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    target: { kind: 'postgres', url: url.toString(), poolSize: 5 },
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
