import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

const time = (d: Date) => {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
};
const REASONS = ['unspecified', 'keyCompromise', 'CACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation'];

export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

/**
 * `openssl ca -gencrl` over the same revoked entries (an index.txt written from the ledger), with the
 * same CA key: the reference for CRL building speed. Returns milliseconds of the openssl run only.
 */
export async function opensslGenCrlMs(url: string, dir: string, caCert: string, caKey: string): Promise<number> {
  await fs.mkdir(dir, { recursive: true });
  const c = new Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<{ serial_number: string; not_after: Date; revoked_at: Date; revocation_reason: number }>(
    'SELECT serial_number, not_after, revoked_at, revocation_reason FROM certificates WHERE revoked_at IS NOT NULL',
  );
  await c.end();
  const lines = rows.map((r) => {
    const reason = r.revocation_reason ? `,${REASONS[r.revocation_reason]}` : '';
    return `R\t${time(r.not_after)}\t${time(r.revoked_at)}${reason}\t${r.serial_number}\tunknown\t/CN=app`;
  });
  await fs.writeFile(path.join(dir, 'index.txt'), lines.join('\n') + '\n');
  await fs.writeFile(path.join(dir, 'crlnumber'), '01\n');
  await fs.writeFile(
    path.join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca = bench\n[bench]\ndatabase = ${dir}/index.txt\ncrlnumber = ${dir}/crlnumber\ncertificate = ${caCert}\nprivate_key = ${caKey}\ndefault_md = sha256\ndefault_crl_hours = 24\n`,
  );
  const started = process.hrtime.bigint();
  execFileSync('openssl', ['ca', '-gencrl', '-config', path.join(dir, 'ca.cnf'), '-out', path.join(dir, 'crl.pem')], { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - started) / 1e6;
}
