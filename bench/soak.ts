/**
 * `npm run soak`: two replicas on the local PostgreSQL under signing/revoking load and the bad-input
 * fuzz suite, for a bounded time (SOAK_SECONDS, default 300; at most 600). Mid-run PostgreSQL is
 * restarted once (or, with SOAK_PG_OUTAGE=proxy or without pg_ctlcluster, cut behind a TCP proxy) and
 * one replica is killed with SIGKILL and started again. Then it checks the ledger against what clients
 * received and the CRLs against what was acknowledged, and prints one table. Loopback only.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { normalSerial, readCrl } from './lib/crl-reader';
import { dbUrl, dropDatabase, postgresAvailable, recreateDatabase } from './lib/db';
import { machine } from './lib/report';
import { BIN, startServer, type RunningServer } from './lib/server';
import { makeCsr } from './scenarios/signing';
import { SoakFuzz } from './lib/soak-fuzz';
import { startTcpProxy, viaProxy, type TcpProxy } from '../test/helpers/tcp-proxy';

const SECONDS = Math.min(600, Number(process.env.SOAK_SECONDS ?? 300));
const SIGNERS = Number(process.env.SOAK_SIGNERS ?? 2);
const REVOKERS = Number(process.env.SOAK_REVOKERS ?? 1);
const FUZZERS = Number(process.env.SOAK_FUZZERS ?? 6);
const FUZZ_PER_ENDPOINT = Number(process.env.SOAK_FUZZ_PER_ENDPOINT ?? 10_000);
const OUTAGE_SECONDS = Number(process.env.SOAK_OUTAGE_SECONDS ?? 5);
/** After the database returns, how long 503s are still the outage's (pools reconnect, CRL catches up). */
const RECOVERY_GRACE_MS = 15_000;
const DB_NAME = 'mtlsca_soak';
const ADMIN = { appKey: 'soak-admin', appToken: `soak-admin-token-${randomBytes(16).toString('hex')}` };
const adminHeaders = { 'X-API-AppKey': ADMIN.appKey, 'X-API-AppToken': ADMIN.appToken };

const log = (what: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${what}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Requests retried because a kept-alive socket was closed by the server just as it was reused. */
export let keepAliveRetries = 0;

/**
 * One HTTP exchange; rejects on connection errors (refused, reset) and after 30 s. A reset on a reused
 * keep-alive socket before any answer is the known race with the server's keep-alive timeout (the
 * server closed the idle socket as the request went out, so it never saw it): retried once on a fresh
 * socket, as Node's documentation advises, and counted.
 */
export function send(base: string, agent: http.Agent, method: string, target: string, headers: Record<string, string>, body?: Buffer | string, retried = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(target, base);
    let answered = false;
    const req = http.request(url, { method, headers, agent, timeout: 30_000 }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!answered && !retried && req.reusedSocket && err.code === 'ECONNRESET') {
        keepAliveRetries++;
        send(base, agent, method, target, headers, body, true).then(resolve, reject);
      } else reject(err);
    });
    req.end(body);
  });
}

/** When the database was away, and when a replica was dead: answers then are judged differently. */
class Timeline {
  readonly outages: Array<{ from: number; to: number }> = [];
  readonly kills: Array<{ replica: number; from: number; to: number }> = [];
  /** Whether a request that ran from `start` to `end` overlapped an outage (or its recovery grace). */
  inOutage(start: number, end = start): boolean {
    return this.outages.some((o) => end >= o.from && start <= o.to + RECOVERY_GRACE_MS);
  }
  replicaDown(replica: number, t: number): boolean {
    return this.kills.some((k) => k.replica === replica && t >= k.from && t <= k.to);
  }
}

class Tally {
  sent = 0;
  byStatus = new Map<number, number>();
  connectionErrors = 0;
  connectionErrorsOutsideKill = 0;
  unexpected5xx = 0;
  outage503 = 0;
  samples: string[] = [];
  note(status: number, at: number, timeline: Timeline, body?: Buffer): void {
    const end = Date.now();
    this.sent++;
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    if (status >= 500) {
      if (status === 503 && timeline.inOutage(at, end)) this.outage503++;
      else {
        this.unexpected5xx++;
        const kind = body ? /"type":"urn:mtls-ca:problem:([a-z-]+)"/.exec(body.toString('utf8'))?.[1] : undefined;
        if (this.samples.length < 10) this.samples.push(`${status} ${kind ?? ''} at +${((at - started) / 1000).toFixed(1)}–${((end - started) / 1000).toFixed(1)} s`);
      }
    }
  }
}

let started = Date.now();

interface PgControl {
  mode: 'restart' | 'proxy';
  outage(seconds: number): Promise<void>;
}

function clusterControl(): PgControl | null {
  if (process.env.SOAK_PG_OUTAGE === 'proxy') return null;
  try {
    const version = execFileSync('ls', ['/etc/postgresql'], { encoding: 'utf8' }).trim().split('\n')[0];
    execFileSync('pg_lsclusters', { stdio: 'ignore' });
    const ctl = (action: string) =>
      execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', action, ...(action === 'stop' ? ['-m', 'fast'] : [])], { stdio: 'ignore' });
    return {
      mode: 'restart',
      async outage(seconds) {
        ctl('stop');
        await sleep(seconds * 1000);
        ctl('start');
      },
    };
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  if (!(await postgresAvailable())) {
    process.stderr.write('npm run soak needs the local PostgreSQL (MTLS_CA_BENCH_POSTGRES_URL or 127.0.0.1:5432)\n');
    return 2;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mtls-ca-soak-'));
  const url = await recreateDatabase(DB_NAME);
  const cluster = clusterControl();
  let proxy: TcpProxy | null = null;
  let databaseUrl = url;
  if (!cluster) {
    const target = new URL(url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    databaseUrl = viaProxy(url, proxy);
  }
  const control: PgControl = cluster ?? {
    mode: 'proxy',
    async outage(seconds) {
      proxy!.cut();
      await sleep(seconds * 1000);
      proxy!.restore();
    },
  };

  const env = {
    DATABASE_URL: databaseUrl,
    MTLS_CA_DATA_DIR: path.join(dir, 'data'),
    API_TOKEN_PEPPER: randomBytes(32).toString('hex'),
    MTLS_CA_BOOTSTRAP_APP_KEY: ADMIN.appKey,
    MTLS_CA_BOOTSTRAP_APP_TOKEN: ADMIN.appToken,
    PUBLIC_BASE_URL: 'http://ca.soak.test',
    CRL_VALIDITY: '1h',
    LOG_LEVEL: 'error',
    // One loopback client drives the load: the abuse limits are tested by `npm test`, not here.
    RATE_LIMIT_SIGN_PER_IP: '0',
    RATE_LIMIT_PER_KEY: '0',
    AUTH_FAILURE_LIMIT: '0',
  };
  const ports = [await freePort(), await freePort()];
  log(`starting two replicas on ${dbUrl(DB_NAME).replace(/\/\/[^@]*@/, '//')} (${control.mode} outage mode), ${SECONDS} s`);
  const replicas: RunningServer[] = [await startServer(env, ports[0])];
  replicas.push(await startServer(env, ports[1]));
  const peakRss = [0, 0];
  const agents = [new http.Agent({ keepAlive: true, maxSockets: 64 }), new http.Agent({ keepAlive: true, maxSockets: 64 })];
  const bases = replicas.map((r) => r.url);
  const csrs = await Promise.all([0, 1, 2, 3].map(async (i) => {
    const d = path.join(dir, `csr${i}`);
    await fs.mkdir(d);
    return makeCsr(d);
  }));
  const seed = Number(process.env.SOAK_SEED ?? Date.now() % 1_000_000);
  const fuzz = new SoakFuzz(ports, ADMIN, FUZZ_PER_ENDPOINT, [ADMIN.appToken, env.API_TOKEN_PEPPER], seed);

  const timeline = new Timeline();
  const tally = new Tally();
  const received = new Set<string>();
  const receivedFrom = [0, 0];
  const revokeCandidates: string[] = [];
  const acknowledged = new Set<string>();
  const crlSeen: Array<Array<{ at: number; number: bigint }>> = [[], []];
  let crlBackwards = 0;
  let running = true;
  started = Date.now();
  const deadline = started + SECONDS * 1000;

  const exchange = async (replica: number, method: string, target: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer | null> => {
    const at = Date.now();
    try {
      const answer = await send(bases[replica], agents[replica], method, target, headers, body);
      tally.note(answer.status, at, timeline, answer.body);
      return answer;
    } catch (err) {
      tally.sent++;
      tally.connectionErrors++;
      if (!timeline.replicaDown(replica, at) && !timeline.replicaDown(replica, Date.now())) {
        tally.connectionErrorsOutsideKill++;
        const e = err as NodeJS.ErrnoException;
        if (tally.samples.length < 10) {
          tally.samples.push(`no answer from replica ${replica + 1} to ${method} ${target.slice(0, 40)} (${e.code ?? e.message}) at +${((at - started) / 1000).toFixed(1)}–${((Date.now() - started) / 1000).toFixed(1)} s`);
        }
      }
      await sleep(50);
      return null;
    }
  };

  const signer = async (n: number) => {
    for (let i = n; running; i++) {
      const replica = i % 2;
      const answer = await exchange(replica, 'POST', '/private-certificates/sign', { ...adminHeaders, 'Content-Type': 'text/plain', Accept: 'application/json' }, csrs[i % csrs.length]);
      if (answer?.status === 200) {
        const serial = normalSerial(JSON.parse(answer.body.toString('utf8')).serialNumber as string);
        received.add(serial);
        receivedFrom[replica]++;
        if (i % 3 === 0) revokeCandidates.push(serial);
      } else if (answer && answer.status >= 500) await sleep(100);
    }
  };
  const revoker = async (n: number) => {
    for (let i = n; running; i++) {
      const serial = revokeCandidates.shift();
      if (!serial) {
        await sleep(20);
        continue;
      }
      const answer = await exchange(i % 2, 'DELETE', `/private-certificates/${serial}?reason=keyCompromise`, adminHeaders);
      if (answer?.status === 200) acknowledged.add(serial);
      else revokeCandidates.push(serial); // try again later (503 in the outage, or a dead replica)
      if (answer && answer.status >= 500) await sleep(100);
    }
  };
  const excused = { outage: (at: number) => timeline.inOutage(at, Date.now()), dead: (replica: number, at: number) => timeline.replicaDown(replica, at) };
  const fuzzer = async (n: number) => {
    for (let i = n; running; i++) {
      const c = fuzz.next();
      if (!c) return;
      const at = Date.now();
      const status = await fuzz.send(i % 2, c, excused);
      if (status === 0) {
        tally.sent++;
        tally.connectionErrors++;
        await sleep(50);
      } else tally.note(status, at, timeline);
    }
  };
  const crlWatcher = async () => {
    while (running) {
      for (const replica of [0, 1]) {
        const answer = await send(bases[replica], agents[replica], 'GET', '/crl', {}).catch(() => null);
        if (answer?.status !== 200) continue;
        const { number } = readCrl(answer.body);
        const seen = crlSeen[replica];
        if (seen.length > 0 && number < seen[seen.length - 1].number) crlBackwards++;
        seen.push({ at: Date.now(), number });
      }
      for (const r of [0, 1]) peakRss[r] = Math.max(peakRss[r], replicas[r].peakRssMb());
      await sleep(250);
    }
  };
  const faults = async () => {
    await sleep(Math.max(0, started + SECONDS * 300 - Date.now()));
    log(`PostgreSQL outage: ${control.mode} for ${OUTAGE_SECONDS} s`);
    const from = Date.now();
    timeline.outages.push({ from, to: Number.MAX_SAFE_INTEGER });
    await control.outage(OUTAGE_SECONDS);
    timeline.outages[0].to = Date.now();
    log('PostgreSQL is back');
    await sleep(Math.max(0, started + SECONDS * 600 - Date.now()));
    log('killing replica 2 with SIGKILL');
    peakRss[1] = Math.max(peakRss[1], replicas[1].peakRssMb());
    const kill = { replica: 1, from: Date.now(), to: Number.MAX_SAFE_INTEGER };
    timeline.kills.push(kill);
    replicas[1].process.kill('SIGKILL');
    await new Promise((r) => replicas[1].process.once('exit', r));
    await sleep(1000);
    replicas[1] = await startServer(env, ports[1]);
    kill.to = Date.now();
    log(`replica 2 is back after ${((kill.to - kill.from) / 1000).toFixed(1)} s`);
  };

  const progress = setInterval(() => {
    log(`${Math.round((Date.now() - started) / 1000)} s: ${tally.sent} requests, ${received.size} certificates, ${acknowledged.size} revocations, fuzz ${fuzz.counts()}`);
  }, 30_000);
  const workers = [
    ...Array.from({ length: SIGNERS }, (_, i) => signer(i)),
    ...Array.from({ length: REVOKERS }, (_, i) => revoker(i)),
    ...Array.from({ length: FUZZERS }, (_, i) => fuzzer(i)),
    crlWatcher(),
  ];
  const faultRun = faults();
  await sleep(Math.max(0, deadline - Date.now()));
  await faultRun;
  running = false;
  await Promise.all(workers);
  clearInterval(progress);
  const elapsed = (Date.now() - started) / 1000;

  // Settle: a last revocation's CRL reaches both replicas within a second; allow a few.
  log('load stopped; checking the ledger and the CRLs');
  await sleep(3000);
  const ledger = new Client({ connectionString: url });
  await ledger.connect();
  const rows = await ledger.query<{ serial_number: string; revoked: boolean }>(
    "SELECT serial_number, revoked_at IS NOT NULL AS revoked FROM certificates WHERE account <> 'mtls-ca'",
  );
  const ocspSigners = Number((await ledger.query<{ n: string }>("SELECT count(*) AS n FROM certificates WHERE account = 'mtls-ca'")).rows[0].n);
  const inLedger = new Map(rows.rows.map((r) => [normalSerial(r.serial_number), r.revoked]));
  const crlNumbers = await ledger.query<{ n: string }>('SELECT crl_number::text AS n FROM crls');
  const audited = await ledger.query<{ action: string; serial_number: string }>(
    "SELECT action, serial_number FROM audit_log WHERE outcome = 'success' AND action IN ('certificate.sign', 'certificate.revoke')",
  );
  const auditRecords = Number((await ledger.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0].n);
  await ledger.end();
  const auditedSigns = new Set(audited.rows.filter((r) => r.action === 'certificate.sign').map((r) => normalSerial(r.serial_number)));
  const auditedRevokes = new Set(audited.rows.filter((r) => r.action === 'certificate.revoke').map((r) => normalSerial(r.serial_number)));
  const signsNotAudited = [...received].filter((s) => !auditedSigns.has(s)).length;
  const revokesNotAudited = [...acknowledged].filter((s) => !auditedRevokes.has(s)).length;
  // The hash chain, walked by the same command an operator runs.
  let chain: { code: number; out: string };
  try {
    const out = execFileSync(process.execPath, [BIN, 'audit', 'verify'], { env: { PATH: process.env.PATH ?? '', DATABASE_URL: url }, encoding: 'utf8' });
    chain = { code: 0, out: out.trim() };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    chain = { code: err.status ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() };
  }
  const missingCerts = [...received].filter((s) => !inLedger.has(s));
  const finalCrls = await Promise.all([0, 1].map(async (r) => readCrl((await send(bases[r], agents[r], 'GET', '/crl', {})).body)));
  const missingRevocations = [0, 1].map((r) => {
    const listed = new Set(finalCrls[r].serials);
    return [...acknowledged].filter((s) => !listed.has(s)).length;
  });
  const sameCrl = finalCrls[0].number === finalCrls[1].number;
  for (const r of [0, 1]) peakRss[r] = Math.max(peakRss[r], replicas[r].peakRssMb());
  fuzz.close();

  for (const r of replicas) await r.stop();
  if (proxy) await proxy.close();
  await dropDatabase(DB_NAME).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });

  const ok = {
    fiveHundreds: tally.unexpected5xx === 0,
    answered: tally.connectionErrorsOutsideKill === 0,
    certs: missingCerts.length === 0,
    revocations: missingRevocations.every((n) => n === 0),
    crl: crlBackwards === 0,
    audit: chain.code === 0 && signsNotAudited === 0 && revokesNotAudited === 0,
    fuzz: fuzz.violations === 0 && fuzz.minPerEndpoint() >= FUZZ_PER_ENDPOINT,
  };
  const statuses = [...tally.byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ');
  const table = [
    `| measure | value | must be |`,
    `|---|---|---|`,
    `| duration | ${elapsed.toFixed(0)} s, two replicas, PostgreSQL ${control.mode === 'restart' ? 'restarted' : 'cut (TCP proxy)'} once for ${OUTAGE_SECONDS} s, replica 2 killed (SIGKILL) once | ≤ 600 s |`,
    `| requests sent | ${tally.sent} (${statuses}; connection errors ${tally.connectionErrors}, of them outside the kill window ${tally.connectionErrorsOutsideKill}; keep-alive races retried ${keepAliveRetries}) | |`,
    `| 5xx outside the outage window (or other than 503 in it) | ${tally.unexpected5xx} | 0 |`,
    ...(tally.samples.length ? [`| details of the above and of connection errors outside the kill window | ${tally.samples.join('; ')} | |`] : []),
    `| 503 during the outage window | ${tally.outage503} | only 503 |`,
    `| certificates received vs in the ledger | ${received.size} received (${receivedFrom[0]} from replica 1, ${receivedFrom[1]} from replica 2), ${received.size - missingCerts.length} of them in the ledger; ledger rows ${inLedger.size} (+ ${ocspSigners} delegated OCSP signers), so ${inLedger.size - (received.size - missingCerts.length)} committed whose answer no client received (the killed replica, the outage) | all received in the ledger |`,
    `| revocations acknowledged vs CRL entries | ${acknowledged.size} acknowledged; missing from the final CRL: replica 1 ${missingRevocations[0]}, replica 2 ${missingRevocations[1]}; CRL entries ${finalCrls[0].serials.length} / ${finalCrls[1].serials.length} | 0 missing |`,
    `| CRL number monotonic | ${crlBackwards === 0 ? 'yes' : `NO (${crlBackwards} steps back)`} (${crlSeen[0].length + crlSeen[1].length} observations; final ${finalCrls[0].number} / ${finalCrls[1].number}${sameCrl ? ', same on both' : ''}; ledger ${crlNumbers.rows.map((r) => r.n).join(', ')}) | yes |`,
    `| audit trail | ${auditRecords} records; \`mtls-ca audit verify\`: ${chain.out.split('\n')[0].slice(0, 140)}; received certificates without a sign record ${signsNotAudited}, acknowledged revocations without a revoke record ${revokesNotAudited} | intact, 0, 0 |`,
    `| fuzz cases (seed ${fuzz.seed}) | ${fuzz.counts()}; 503 in the outage window ${fuzz.outage503} | ≥ ${FUZZ_PER_ENDPOINT} per endpoint |`,
    `| fuzz answers breaking the invariants | ${fuzz.violations} (of them no answer: ${fuzz.noAnswer})${fuzz.samples.length ? ` — ${fuzz.samples.join('; ')}` : ''} | 0 |`,
    `| peak RSS | replica 1 ${peakRss[0]} MB, replica 2 ${peakRss[1]} MB (before and after its restart) | bounded |`,
  ].join('\n');
  process.stdout.write(`\nmtls-ca soak — ${new Date().toISOString()} — ${machine()}\n\n${table}\n\n`);
  const pass = Object.values(ok).every(Boolean);
  process.stdout.write(pass ? 'soak: PASS\n' : `soak: FAIL (${Object.entries(ok).filter(([, v]) => !v).map(([k]) => k).join(', ')})\n`);
  return pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
