import { Client } from 'pg';

/** Tells once whether the PostgreSQL suite will run (MTLS_CA_TEST_POSTGRES_URL) and that it is reachable. */
export default async function globalSetup(): Promise<void> {
  const url = process.env.MTLS_CA_TEST_POSTGRES_URL;
  if (!url) {
    process.stdout.write('\nmtls-ca tests: PGlite only (set MTLS_CA_TEST_POSTGRES_URL to run the PostgreSQL suite too)\n');
    return;
  }
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (e) {
    throw new Error(`MTLS_CA_TEST_POSTGRES_URL is set but PostgreSQL does not answer: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  process.stdout.write('\nmtls-ca tests: PGlite and PostgreSQL\n');
}
