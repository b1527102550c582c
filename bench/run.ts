/**
 * `npm run bench`: every performance scenario of mtls-ca against the real server (PostgreSQL; signing on
 * PGlite too), loopback only, bounded in time. Prints one table; writes bench/results.json.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { loadOrCreateCa } from '../src/ca/ca-keystore';
import { systemClock } from '../src/domain/clock';
import { randomSerialSource } from '../src/domain/serial-number';
import { encodeCursor } from '../src/services/certificate-service';
import { openLedger } from '../src/store/ledger';
import { dropDatabase, postgresAvailable, recreateDatabase, seedCertificates, ADMIN_URL } from './lib/db';
import { wrkAvailable } from './lib/load';
import { ensureTools } from './lib/tools';
import { rawSignRate } from './lib/raw-limits';
import { machine, printTable, saveResults, type Row } from './lib/report';
import { startServer } from './lib/server';
import { caSignerScenario } from './scenarios/ca-signers';
import { crlBuildScenario } from './scenarios/crl';
import { revocationLatencyScenario } from './scenarios/revocation-latency';
import { crlServingScenario, listingScenario, ocspServingScenario, rawServingLimit } from './scenarios/serving';
import { adminHeaders, BENCH_ADMIN, cfsslScenario, makeCsr, signingScenario } from './scenarios/signing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const REVOKES = Number(process.env.BENCH_REVOKES ?? 100);
const MILLION = Number(process.env.BENCH_CRL_ENTRIES ?? 1_000_000);
/**
 * Comma-separated subset: sign (file key/PKCS#11, PostgreSQL + CFSSL, PGlite), sign-pg, sign-pglite,
 * crl (builds, listing, revocation latency, serving), serve (only the CRL/OCSP serving rows). Default: sign,crl.
 */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'sign,crl').split(','));

const step = (what: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}\n`);

/** Creates the schema and the CA for a seeded ledger; returns the CA's key id. */
async function prepareLedger(url: string, caDir: string): Promise<string> {
  const ledger = await openLedger({ kind: 'postgres', url });
  await ledger.close();
  const { ca } = await loadOrCreateCa({ dataDir: caDir, subject: 'CN=mtls-ca bench CA', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 }, globalThis.crypto, systemClock, randomSerialSource);
  return ca.keyId;
}

async function deepCursor(url: string, offset: number): Promise<string> {
  const c = new Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<{ issued_at: Date; serial_number: string }>(
    'SELECT issued_at, serial_number FROM certificates ORDER BY issued_at DESC, serial_number DESC OFFSET $1 LIMIT 1',
    [offset],
  );
  await c.end();
  return encodeCursor({ issuedAt: rows[0].issued_at, serialNumber: rows[0].serial_number });
}

/** An OCSP request (no nonce) for one seeded certificate, made by openssl. */
async function ocspRequestFor(url: string, caCert: string, dir: string): Promise<Buffer> {
  const c = new Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<{ serial_number: string }>('SELECT serial_number FROM certificates LIMIT 1');
  await c.end();
  const out = path.join(dir, 'ocsp-req.der');
  execFileSync('openssl', ['ocsp', '-issuer', caCert, '-serial', `0x${rows[0].serial_number}`, '-no_nonce', '-reqout', out], { stdio: 'ignore' });
  return fs.readFile(out);
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    process.stderr.write('bench: 10-minute bound reached, stopping\n');
    process.exit(2);
  }, 10 * 60_000);
  deadline.unref();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mtls-ca-bench-'));
  const rows: Row[] = [];
  ensureTools(step);

  step('raw signature limits');
  const raw1 = await rawSignRate(1);
  const raw2 = await rawSignRate(2);
  rows.push({
    scenario: 'raw ECDSA P-256 signatures, node:crypto KeyObject (the limit)',
    result: `${Math.round(raw1)}/s on 1 core, ${Math.round(raw2)}/s on 2 cores`,
    target: '(limit)',
    met: null,
  });

  if (ONLY.has('sign')) {
    step('issuance with a file key and with SoftHSM2 (PKCS#11)');
    rows.push(...(await caSignerScenario({ seconds: SECONDS, rawRate1: raw1 })));
  }

  const csr = await makeCsr(dir);
  const pg = await postgresAvailable();
  step(`load generator: ${wrkAvailable() ? 'wrk' : 'autocannon (install wrk for large responses)'}`);
  if (!pg) step(`no PostgreSQL at ${ADMIN_URL}: running the PGlite scenarios only (set MTLS_CA_BENCH_POSTGRES_URL)`);

  if (pg && (ONLY.has('sign') || ONLY.has('sign-pg'))) {
    step('signing on PostgreSQL');
    const url = await recreateDatabase('mtlsca_bench_sign');
    const signing = await signingScenario({ dir, csr, postgresUrl: url, port: 18600, seconds: SECONDS, rawRate2: raw2 });
    rows.push(signing);
    await dropDatabase('mtlsca_bench_sign');
    step('CFSSL (if installed)');
    const cfssl = await cfsslScenario({ dir, csr, port: 18602, seconds: SECONDS, ours: (signing.raw as { rate: number }).rate, rawRate2: raw2 });
    if (cfssl) rows.push(cfssl);
  }
  if (ONLY.has('sign') || ONLY.has('sign-pglite')) {
    step('signing on PGlite');
    rows.push(await signingScenario({ dir, csr, port: 18601, seconds: SECONDS, rawRate2: raw2 }));
  }

  if (pg && (ONLY.has('crl') || ONLY.has('serve'))) {
    const caDir = path.join(dir, 'seeded-ca');
    const ca = { CA_CERT_FILE: path.join(caDir, 'ca', 'ca.crt'), CA_KEY_FILE: path.join(caDir, 'ca', 'ca.key') };
    const serverEnv = (url: string, name: string) => ({
      ...ca,
      DATABASE_URL: url,
      MTLS_CA_DATA_DIR: path.join(dir, name),
      MTLS_CA_BOOTSTRAP_APP_KEY: BENCH_ADMIN.key,
      MTLS_CA_BOOTSTRAP_APP_TOKEN: BENCH_ADMIN.token,
      WORKERS: 'auto',
    });

    let keyId: string | null = null;
    if (ONLY.has('crl')) {
      step(`seeding ${MILLION} revoked certificates`);
      const bigUrl = await recreateDatabase('mtlsca_bench_big');
      keyId = await prepareLedger(bigUrl, caDir);
      await seedCertificates(bigUrl, MILLION, true, keyId);
      step('CRL builds (1M) and openssl ca -gencrl on the same entries');
      rows.push(...(await crlBuildScenario({ url: bigUrl, entries: MILLION, caDir, workDir: dir })));

      step('listing and revocation latency on the large ledger');
      const big = await startServer(serverEnv(bigUrl, 'data-big'), 18603);
      try {
        rows.push(...(await listingScenario({ url: big.url, headers: adminHeaders, deepCursor: await deepCursor(bigUrl, Math.floor(MILLION * 0.9)), rows: MILLION, seconds: 3 })));
        rows.push(await revocationLatencyScenario({ url: big.url, headers: adminHeaders, csr, count: REVOKES, crlEntries: MILLION }));
      } finally {
        await big.stop();
      }
      await dropDatabase('mtlsca_bench_big');
    }

    step('CRL build (100k) and serving');
    const midUrl = await recreateDatabase('mtlsca_bench_100k');
    const midKeyId = await prepareLedger(midUrl, caDir);
    await seedCertificates(midUrl, 100_000, true, keyId ?? midKeyId);
    if (ONLY.has('crl')) rows.push(...(await crlBuildScenario({ url: midUrl, entries: 100_000, caDir, workDir: dir })));
    const mid = await startServer(serverEnv(midUrl, 'data-100k'), 18604);
    try {
      const pids = () => mid.pids();
      rows.push(...(await crlServingScenario({ url: mid.url, entries: 100_000, seconds: 5, peakRssMb: () => mid.peakRssMb(), pids, rawLimit: (bytes) => rawServingLimit(bytes, 18605, 5) })));
      rows.push(await ocspServingScenario({ url: mid.url, requestDer: await ocspRequestFor(midUrl, ca.CA_CERT_FILE, dir), seconds: 5, pids }));
    } finally {
      await mid.stop();
    }
    await dropDatabase('mtlsca_bench_100k');
  }

  await fs.rm(dir, { recursive: true, force: true });
  const table = printTable(rows);
  process.stdout.write(`\nmtls-ca benchmark — ${machine()}\n\n${table}\n`);
  saveResults(rows);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
