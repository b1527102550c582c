import { createPrivateKey } from 'node:crypto';
import type { TestService } from './test-service';

/** Every text, varchar, bytea and jsonb value of every table in the ledger, as text and as stored. */
export async function ledgerValues(t: TestService): Promise<Array<{ where: string; text: string; raw: unknown }>> {
  const sql = t.service.ledger.sql;
  const columns = await sql.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'jsonb', 'character varying')`,
  );
  const out: Array<{ where: string; text: string; raw: unknown }> = [];
  for (const c of columns) {
    const rows = await sql.query<{ v: string | null; raw: unknown }>(`SELECT "${c.column_name}"::text AS v, "${c.column_name}" AS raw FROM "${c.table_name}"`);
    for (const r of rows) out.push({ where: `${c.table_name}.${c.column_name}`, text: r.v ?? '', raw: r.raw });
  }
  return out;
}

/** Asserts that no form of `keyPem` (PEM, PKCS#8 and SEC1/PKCS#1 DER as base64, hex or bytes) is stored anywhere in the ledger. */
export async function expectKeyNowhereInLedger(t: TestService, keyPem: string): Promise<void> {
  const key = createPrivateKey(keyPem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const inner = key.asymmetricKeyType === 'ec' ? key.export({ type: 'sec1', format: 'der' }) : key.export({ type: 'pkcs1', format: 'der' });
  const needles = [keyPem.trim(), key.export({ type: 'pkcs8', format: 'pem' }) as string, der.toString('base64').slice(0, 64), inner.toString('base64').slice(0, 64), der.toString('hex').slice(0, 96)];
  const secret = key.asymmetricKeyType === 'ec' ? inner.subarray(7, 39) : der.subarray(der.length - 64);
  const values = await ledgerValues(t);
  expect(values.some((v) => v.where.startsWith('client_identities.'))).toBe(true);
  expect(values.some((v) => v.where.startsWith('wrapped_secrets.'))).toBe(true);
  for (const v of values) {
    for (const n of needles) expect({ where: v.where, found: v.text.includes(n) }).toEqual({ where: v.where, found: false });
    if (v.raw instanceof Uint8Array) expect({ where: v.where, found: Buffer.from(v.raw).includes(secret) }).toEqual({ where: v.where, found: false });
  }
}
