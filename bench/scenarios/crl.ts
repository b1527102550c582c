import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { opensslAvailable, opensslGenCrlMs } from '../lib/openssl-crl';
import type { Row } from '../lib/report';

const run = promisify(execFile);

/** Full and incremental CRL builds from the PostgreSQL ledger, in a child process (its own peak RSS). */
export async function crlBuildScenario(opts: { url: string; entries: number; caDir: string; workDir: string }): Promise<Row[]> {
  const child = path.join(__dirname, 'crl-build-child.js');
  const { stdout } = await run(process.execPath, [child, opts.url, opts.caDir], { maxBuffer: 1 << 20 });
  const r = JSON.parse(stdout.trim()) as { fullMs: number; incrementalMs: number; entries: number; bytes: number; peakRssMb: number };
  let opensslMs: number | null = null;
  if (opensslAvailable()) {
    opensslMs = await opensslGenCrlMs(opts.url, path.join(opts.workDir, `openssl-${opts.entries}`), path.join(opts.caDir, 'ca', 'ca.crt'), path.join(opts.caDir, 'ca', 'ca.key'));
  }
  const label = opts.entries >= 1_000_000 ? '1,000,000' : opts.entries.toLocaleString('en');
  const targetMs = opts.entries >= 1_000_000 ? 3000 : 300;
  const rows: Row[] = [
    {
      scenario: `CRL full build, ${label} revoked (half with reason codes), from PostgreSQL`,
      result: `${Math.round(r.fullMs)} ms, ${r.entries} entries, ${(r.bytes / 1e6).toFixed(1)} MB`,
      peakRssMb: r.peakRssMb,
      target: `≤ ${targetMs} ms${opts.entries >= 1_000_000 ? ', RSS ≤ 512 MB' : ''}`,
      met: r.fullMs <= targetMs && (opts.entries < 1_000_000 || r.peakRssMb <= 512),
      ratio: opensslMs ? `${(r.fullMs / opensslMs).toFixed(2)}× openssl ca -gencrl (${Math.round(opensslMs)} ms)` : 'openssl not present',
      raw: { ...r, opensslMs },
    },
  ];
  if (opts.entries >= 1_000_000) {
    rows.push({
      scenario: `CRL incremental build (1 new revocation appended to ${label})`,
      result: `${Math.round(r.incrementalMs)} ms`,
      target: '(part of the revoke → /crl budget)',
      met: null,
      raw: r,
    });
  }
  return rows;
}
