import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { cpuDuring, cpuSecondsOf, perOp } from '../lib/cpu';
import { ADMIN_URL } from '../lib/db';
import { load, type LoadResult } from '../lib/load';
import type { Row } from '../lib/report';
import { startServer } from '../lib/server';

export const BENCH_ADMIN = { key: 'bench-admin', token: 'bench-admin-token-0123456789012345678901' };
export const adminHeaders = { 'X-API-AppKey': BENCH_ADMIN.key, 'X-API-AppToken': BENCH_ADMIN.token };

export async function makeCsr(dir: string): Promise<string> {
  execFileSync('openssl', ['req', '-new', '-subj', '/CN=erp-connector/OU=acme/L=Recife/ST=PE/C=BR', '-out', path.join(dir, 'app.csr'),
    '-nodes', '-sha256', '-newkey', 'rsa:2048', '-keyout', path.join(dir, 'app.key')], { stdio: 'ignore' });
  return fs.readFile(path.join(dir, 'app.csr'), 'utf8');
}

async function signLoad(url: string, csr: string, seconds: number): Promise<LoadResult> {
  return load({
    url: `${url}/private-certificates/sign`,
    method: 'POST',
    body: csr,
    headers: { 'Content-Type': 'text/plain', ...adminHeaders },
    connections: 32,
    seconds,
  });
}

/** Signing through HTTP with every certificate committed to the ledger before its answer. */
export async function signingScenario(opts: { dir: string; csr: string; postgresUrl?: string; port: number; seconds: number; rawRate2: number }): Promise<Row> {
  const backend = opts.postgresUrl ? 'PostgreSQL' : 'PGlite';
  const env: Record<string, string> = {
    MTLS_CA_DATA_DIR: path.join(opts.dir, `data-${backend}`),
    MTLS_CA_BOOTSTRAP_APP_KEY: BENCH_ADMIN.key,
    MTLS_CA_BOOTSTRAP_APP_TOKEN: BENCH_ADMIN.token,
    WORKERS: opts.postgresUrl ? 'auto' : '1',
    ...(opts.postgresUrl ? { DATABASE_URL: opts.postgresUrl } : {}),
  };
  const server = await startServer(env, opts.port);
  try {
    await signLoad(server.url, opts.csr, 2); // warm-up
    const database = opts.postgresUrl ? { adminUrl: ADMIN_URL, name: new URL(opts.postgresUrl).pathname.slice(1) } : null;
    const { result: r, nodeSeconds, postgresSeconds } = await cpuDuring(() => server.pids(), database, () => signLoad(server.url, opts.csr, opts.seconds));
    const issued = r.rate * opts.seconds;
    let ledgerCheck = '';
    if (opts.postgresUrl) {
      const c = new Client({ connectionString: opts.postgresUrl });
      await c.connect();
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM certificates');
      await c.end();
      ledgerCheck = `, ${rows[0].n} ledger rows`;
    }
    const target = opts.postgresUrl ? '≥ 5,000/s, p99 ≤ 25 ms, Node CPU ≤ 150 µs' : '≥ 1,500/s, peak RSS ≤ 300 MB';
    return {
      scenario: `sign, RSA-2048 CSR, P-256 CA, ${backend} ledger, 32 clients${opts.postgresUrl ? ', WORKERS=auto' : ''}`,
      result: `${Math.round(r.rate)} certs/s (${r.non2xx} non-2xx, ${r.errors} errors${ledgerCheck})`,
      p50: `${r.p50} ms`,
      p99: `${r.p99} ms`,
      peakRssMb: server.peakRssMb(),
      nodeCpu: perOp(nodeSeconds, issued),
      postgresCpu: perOp(postgresSeconds, issued),
      target,
      met: opts.postgresUrl ? r.rate >= 5000 && r.p99 <= 25 && (nodeSeconds * 1e6) / issued <= 150 : r.rate >= 1500 && server.peakRssMb() <= 300,
      ratio: `${(r.rate / opts.rawRate2).toFixed(3)} of raw 2-core ECDSA sign`,
      raw: { ...r, nodeCpuSeconds: nodeSeconds, postgresCpuSeconds: postgresSeconds },
    };
  } finally {
    await server.stop();
  }
}

/** CFSSL's sign endpoint with the same CSR and CA key type, when `cfssl` is installed. */
export async function cfsslScenario(opts: { dir: string; csr: string; port: number; seconds: number; ours: number; rawRate2: number }): Promise<Row | null> {
  try {
    execFileSync('cfssl', ['version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const dir = path.join(opts.dir, 'cfssl');
  await fs.mkdir(dir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-new', '-nodes', '-subj', '/CN=cfssl bench CA', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-keyout', path.join(dir, 'ca-key.pem'), '-out', path.join(dir, 'ca.pem'), '-days', '30'], { stdio: 'ignore' });
  const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(opts.port), '-ca', path.join(dir, 'ca.pem'), '-ca-key', path.join(dir, 'ca-key.pem')], { stdio: 'ignore' });
  try {
    const url = `http://127.0.0.1:${opts.port}/api/v1/cfssl/sign`;
    for (let i = 0; i < 50; i++) {
      try {
        await fetch(url, { method: 'POST', body: JSON.stringify({ certificate_request: opts.csr }) });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const body = JSON.stringify({ certificate_request: opts.csr });
    await load({ url, method: 'POST', body, headers: { 'Content-Type': 'application/json' }, seconds: 2 });
    const before = cpuSecondsOf([child.pid!]);
    const r = await load({ url, method: 'POST', body, headers: { 'Content-Type': 'application/json' }, seconds: opts.seconds });
    const cfsslSeconds = cpuSecondsOf([child.pid!]) - before;
    return {
      scenario: 'CFSSL serve sign (no ledger), same CSR, P-256 CA, 32 clients',
      result: `${Math.round(r.rate)} certs/s; ours / CFSSL = ${(opts.ours / r.rate).toFixed(2)}`,
      p50: `${r.p50} ms`,
      p99: `${r.p99} ms`,
      nodeCpu: `(cfssl, Go: ${perOp(cfsslSeconds, r.rate * opts.seconds)})`,
      target: 'ours ≥ CFSSL',
      met: opts.ours >= r.rate,
      ratio: `${(r.rate / opts.rawRate2).toFixed(3)} of raw 2-core ECDSA sign`,
      raw: { ...r },
    };
  } finally {
    child.kill('SIGTERM');
  }
}
