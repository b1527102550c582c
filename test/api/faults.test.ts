import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { CRL_LOCK_KEY } from '../../src/store/crl-repository';
import { createTestDatabase, type TestDatabase } from '../helpers/backends';
import { makeCsr, openssl, opensslStatus, tempDir } from '../helpers/openssl';
import { createRemoteKey, fetchRemoteCrl, keyHeaders, revokeRemote, signRemote, sleep, timed, type Headers } from '../helpers/remote';
import { serviceEnv, spawnService, SPAWNED_ADMIN, type ServiceProcess } from '../helpers/service-process';
import { eventually } from '../helpers/sign';
import { startTcpProxy, viaProxy, type TcpProxy } from '../helpers/tcp-proxy';

const postgresOnly = process.env.MTLS_CA_TEST_POSTGRES_URL ? describe : describe.skip;

/** The bound under test: the spawned service waits this long for PostgreSQL before answering 503. */
const DATABASE_TIMEOUT_MS = 3000;
/**
 * No request hangs: each answers 503 ledger-unavailable (designed: within about 2 × DATABASE_TIMEOUT_MS, one
 * wait for a flush slot and one for its own statement) well before the 30 s request deadline, which would
 * answer deadline-exceeded instead. Generous, for a busy machine: speed is for `npm run bench`.
 */
const ANSWER_BOUND_MS = 20_000;

/**
 * The real CLI on a PostgreSQL database reached through a TCP proxy that plays a dead server (cut) and a
 * hung one (pause). The ledger is checked directly (not through the proxy) after each outage.
 */
postgresOnly('PostgreSQL outages while serving (spawned service behind a TCP proxy)', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let dataDir: string;
  let svc: ServiceProcess;
  let direct: Client;
  let tenant: Headers;
  let csr: Buffer;
  /** Every certificate a client received. */
  const received = new Map<string, string>();

  const sign = async () => {
    const answer = await signRemote(svc.url, tenant, csr);
    if (answer.status === 200) received.set(answer.serialNumber!, answer.certificate!);
    return answer;
  };

  /** An OCSP request (no nonce, so answers may be cached) for a certificate received earlier. */
  const ocspRequest = async (serial: string): Promise<Buffer> => {
    const certPath = path.join(dataDir, `${serial}.crt`);
    await fs.writeFile(certPath, received.get(serial)!);
    const reqPath = path.join(dataDir, `${serial}.ocsp`);
    await openssl(['ocsp', '-issuer', path.join(dataDir, 'ca.pem'), '-cert', certPath, '-no_nonce', '-reqout', reqPath]);
    return fs.readFile(reqPath);
  };
  /**
   * Waits until `request` is answered from the OCSP cache: two answers more than a second apart carry the
   * same bytes (a fresh one would have a new producedAt). Just after a start, or after a revocation, the
   * replica's revocation mark may still be settling on a busy machine.
   */
  const untilCached = (request: Buffer) => {
    const raw = async () => Buffer.from(await (await fetch(`${svc.url}/ocsp`, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: new Uint8Array(request) })).arrayBuffer());
    return eventually(
      async () => {
        const first = await raw();
        await new Promise((r) => setTimeout(r, 1100));
        return first.equals(await raw());
      },
      60_000,
      100,
      'a cached OCSP answer',
    );
  };
  const ocsp = async (request: Buffer, method: 'GET' | 'POST'): Promise<{ status: number; answer: string }> => {
    const res =
      method === 'POST'
        ? await fetch(`${svc.url}/ocsp`, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: new Uint8Array(request) })
        : await fetch(`${svc.url}/ocsp/${encodeURIComponent(request.toString('base64'))}`);
    const der = Buffer.from(await res.arrayBuffer());
    const respPath = path.join(dataDir, `resp-${Date.now()}.der`);
    await fs.writeFile(respPath, der);
    const text = (await opensslStatus(['ocsp', '-respin', respPath, '-resp_text', '-noverify'])).output;
    // 'good' / 'revoked' / 'unknown', or the error status of an unsuccessful answer ('trylater').
    const answer = /Cert Status: (\w+)/.exec(text)?.[1] ?? /Responder Error: (\w+)/.exec(text)?.[1] ?? 'none';
    return { status: res.status, answer };
  };

  const alive = async () => {
    await sleep(100);
    return svc.running;
  };
  const get = async (p: string) => timed(async () => (await fetch(`${svc.url}${p}`)).status);

  /** Every certificate in the ledger for the account went to a client, and every one a client got is there. */
  const expectLedgerEqualsReceived = async () => {
    const rows = await direct.query<{ serial_number: string }>("SELECT serial_number FROM certificates WHERE account = 'acme'");
    expect(rows.rows.map((r) => r.serial_number).sort()).toEqual([...received.keys()].sort());
  };

  const expectProblem503 = (answer: { status: number; contentType: string; text: string }) => {
    expect(answer.status).toBe(503);
    expect(answer.contentType).toContain('application/problem+json');
    expect(JSON.parse(answer.text).type).toBe('urn:mtls-ca:problem:ledger-unavailable');
    expect(answer.text).not.toContain('CERTIFICATE');
  };

  const recover = async () => {
    proxy.restore();
    await eventually(async () => (await get('/readyz')).value === 200, 30_000, 100, '/readyz answering 200 once the database is back');
    expect((await sign()).status).toBe(200);
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const target = new URL(db.url!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    dataDir = await tempDir();
    svc = await spawnService(
      serviceEnv({ dataDir, databaseUrl: viaProxy(db.url!, proxy), env: { DATABASE_TIMEOUT_MS: String(DATABASE_TIMEOUT_MS), API_KEY_CACHE_MS: '1000' } }),
    );
    direct = new Client({ connectionString: db.url });
    await direct.connect();
    tenant = await createRemoteKey(svc.url, keyHeaders(SPAWNED_ADMIN), 'acme', ['role:tenant']);
    csr = (await makeCsr(dataDir, 'client', '/CN=erp-connector/OU=acme/C=BR')).csr;
    await fs.writeFile(path.join(dataDir, 'ca.pem'), await (await fetch(`${svc.url}/ca.pem`)).text());
  }, 60_000);

  afterEach(() => proxy.restore()); // a failed test must not leave the next one without a database

  afterAll(async () => {
    await svc?.stop();
    await proxy?.close();
    await direct?.end();
    await db?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('answers 503 to sign and revoke on a dead database, serves CRL, CA and cached OCSP from memory, and recovers by itself', async () => {
    const [c0, c1] = [await sign(), await sign()];
    expect([c0.status, c1.status]).toEqual([200, 200]);
    const ocspC0 = await ocspRequest(c0.serialNumber!);
    const ocspC1 = await ocspRequest(c1.serialNumber!);
    expect((await ocsp(ocspC0, 'POST')).answer).toBe('good');
    await untilCached(ocspC0);
    const crlBefore = await fetchRemoteCrl(svc.url);
    expect((await sign()).status).toBe(200); // the API key is fresh in the cache: the next signs fail at the ledger write

    proxy.cut();
    const outage = await Promise.all([sign(), sign(), sign(), sign()].map((p) => timed(() => p)));
    for (const { value, ms } of outage) {
      expectProblem503(value);
      expect(ms).toBeLessThan(ANSWER_BOUND_MS);
    }
    expect(outage.some(({ value }) => value.text.includes('recording the certificate'))).toBe(true);
    expectProblem503(await revokeRemote(svc.url, tenant, c1.serialNumber!));

    // Answered 200 while the database is unreachable: from memory.
    for (const p of ['/crl', '/crl.pem', '/ca.pem', '/ca.crt']) expect([p, (await get(p)).value]).toEqual([p, 200]);
    expect((await fetchRemoteCrl(svc.url)).der.equals(crlBefore.der)).toBe(true);
    for (const method of ['POST', 'GET'] as const) expect(await ocsp(ocspC0, method)).toMatchObject({ status: 200, answer: 'good' });
    // Not cached: the status cannot be read, so the responder says so (never a guessed 'good').
    expect(await ocsp(ocspC1, 'POST')).toMatchObject({ status: 200, answer: 'trylater' });

    const readyz = await fetch(`${svc.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect((await readyz.json()).checks).toMatchObject({ database: false, caKey: true, crl: true });
    expect((await get('/healthz')).value).toBe(200);

    await sleep(1100); // the API key cache has expired: now authentication itself needs the ledger
    expectProblem503(await sign());
    expect(await alive()).toBe(true);

    await recover();
    expect((await revokeRemote(svc.url, tenant, c1.serialNumber!)).status).toBe(200);
    await eventually(async () => (await fetchRemoteCrl(svc.url)).serials.includes(c1.serialNumber!), 15_000, 100, 'the revoked serial on the CRL');
    expect((await fetchRemoteCrl(svc.url)).number).toBeGreaterThan(crlBefore.number);
    await expectLedgerEqualsReceived();
  }, 120_000);

  it('answers 503 within the bound on a hung database (no request hangs), and recovers by itself', async () => {
    const c2 = await sign();
    expect(c2.status).toBe(200);
    const ocspC2 = await ocspRequest(c2.serialNumber!);
    expect((await ocsp(ocspC2, 'GET')).answer).toBe('good');
    expect((await sign()).status).toBe(200);
    await untilCached(ocspC2);

    proxy.pause();
    const outage = await Promise.all([sign(), sign(), sign()].map((p) => timed(() => p)));
    for (const { value, ms } of outage) {
      expectProblem503(value);
      expect(ms).toBeLessThan(ANSWER_BOUND_MS);
    }
    const revoke = await timed(() => revokeRemote(svc.url, tenant, c2.serialNumber!));
    expectProblem503(revoke.value);
    expect(revoke.ms).toBeLessThan(ANSWER_BOUND_MS);

    // Answered 200 while every statement hangs: from memory (anything reading the ledger would wait, then 503).
    for (const p of ['/crl', '/crl.pem', '/ca.pem']) expect([p, (await get(p)).value]).toEqual([p, 200]);
    expect(await ocsp(ocspC2, 'POST')).toMatchObject({ status: 200, answer: 'good' });
    // The probe bounds its query (1 s): it answers before the pool would give up on a hung database.
    const readyz = await timed(() => fetch(`${svc.url}/readyz`));
    expect(readyz.value.status).toBe(503);
    expect(readyz.ms).toBeLessThan(DATABASE_TIMEOUT_MS);
    expect((await get('/healthz')).value).toBe(200);
    expect(await alive()).toBe(true);

    await recover();
    expect((await revokeRemote(svc.url, tenant, c2.serialNumber!)).status).toBe(200);
    await eventually(async () => (await fetchRemoteCrl(svc.url)).serials.includes(c2.serialNumber!), 15_000, 100, 'the revoked serial on the CRL');
    await expectLedgerEqualsReceived();
  }, 120_000);

  it('survives the connection dying in the middle of a transaction (a revoke waiting for the CRL lock)', async () => {
    const c3 = await sign();
    expect(c3.status).toBe(200);
    // Hold the CRL lock exclusively (as a CRL build on another replica would): the revoke waits for it.
    await direct.query('SELECT pg_advisory_lock($1)', [CRL_LOCK_KEY]);
    try {
      const revoke = revokeRemote(svc.url, tenant, c3.serialNumber!);
      await eventually(
        async () => {
          const r = await direct.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
          return r.rows[0].n > 0;
        },
        15_000,
        20,
        'the revoke waiting for the CRL lock',
      );
      proxy.cut();
      expectProblem503(await revoke);
      await sleep(200);
      expect(await alive()).toBe(true);
      expect((await get('/healthz')).value).toBe(200);
    } finally {
      await direct.query('SELECT pg_advisory_unlock($1)', [CRL_LOCK_KEY]);
    }
    await recover();
    const row = await direct.query('SELECT revoked_at FROM certificates WHERE serial_number = $1', [c3.serialNumber]);
    expect(row.rows[0].revoked_at).toBeNull(); // the 503 revoke left nothing behind
    expect((await revokeRemote(svc.url, tenant, c3.serialNumber!)).status).toBe(200);
    await expectLedgerEqualsReceived();
  }, 120_000);
});
