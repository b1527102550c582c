import { Client } from 'pg';

export const ADMIN_URL = process.env.MTLS_CA_BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function recreateDatabase(name: string): Promise<string> {
  const c = new Client({ connectionString: ADMIN_URL });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return dbUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  const c = new Client({ connectionString: ADMIN_URL });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.end();
}

export async function postgresAvailable(): Promise<boolean> {
  const c = new Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * Seeds `count` certificates straight into the ledger with SQL (the schema must exist: start the
 * service once first). `revokedEvery`: 1 revokes all, 0 none; half of the revoked carry a reason code.
 */
export async function seedCertificates(url: string, count: number, revoked: boolean, issuerKeyId: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const chunk = 250_000;
    for (let from = 1; from <= count; from += chunk) {
      const to = Math.min(count, from + chunk - 1);
      await c.query(
        `INSERT INTO certificates (serial_number, account, common_name, subject, public_key_sha256, not_before, not_after,
           issuer_key_id, pem, issued_at, requested_by, revoked_at, revocation_reason, revoked_by, revocation_seq)
         SELECT upper('5' || substr(md5(i::text), 2)),
                'acct' || (i % 1000), 'app-' || (i % 5000), 'CN=app-' || (i % 5000) || ', OU=acct' || (i % 1000),
                md5(i::text) || md5((i + 1)::text), now() - interval '1 day', now() + interval '300 days',
                $3, 'seeded', now() - interval '30 days' + (i || ' ms')::interval, 'bench',
                CASE WHEN $4 THEN now() - (i || ' s')::interval END,
                CASE WHEN $4 THEN CASE WHEN i % 2 = 0 THEN 1 + (i / 2) % 5 ELSE 0 END END,
                CASE WHEN $4 THEN 'bench' END,
                CASE WHEN $4 THEN nextval('certificates_revocation_seq') END
         FROM generate_series($1::int, $2::int) AS i`,
        [from, to, issuerKeyId, revoked],
      );
    }
    await c.query('ANALYZE certificates');
  } finally {
    await c.end();
  }
}
