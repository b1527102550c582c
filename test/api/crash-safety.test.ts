import { promises as fs } from 'node:fs';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/backends';
import { makeCsr, tempDir } from '../helpers/openssl';
import { createRemoteKey, fetchRemoteCrl, keyHeaders, revokeRemote, signRemote, sleep, type Headers } from '../helpers/remote';
import { serviceEnv, spawnService, SPAWNED_ADMIN, type ServiceProcess } from '../helpers/service-process';
import { eventually } from '../helpers/sign';

const postgresOnly = process.env.MTLS_CA_TEST_POSTGRES_URL ? describe : describe.skip;

/** kill -9 of the real CLI in the middle of a burst of signing and revoking, then a restart on the same database. */
postgresOnly('crash safety (kill -9 during a burst, PostgreSQL)', () => {
  let db: TestDatabase;
  let dataDir: string;
  let direct: Client;
  const spawned: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await tempDir();
    direct = new Client({ connectionString: db.url });
    await direct.connect();
  });
  afterAll(async () => {
    await Promise.all(spawned.map((s) => s.stop(2000)));
    await direct?.end();
    await db?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  const start = async () => {
    const s = await spawnService(serviceEnv({ dataDir, databaseUrl: db.url }));
    spawned.push(s);
    return s;
  };

  it('after a restart, every certificate a client received is in the ledger, every acknowledged revocation is on the CRL, and the CRL number never went back', async () => {
    const first = await start();
    const tenant: Headers = await createRemoteKey(first.url, keyHeaders(SPAWNED_ADMIN), 'acme', ['role:tenant']);
    const csrs = await Promise.all([0, 1, 2, 3].map((i) => makeCsr(dataDir, `client${i}`, `/CN=app-${i}/OU=acme/C=BR`)));

    const received: string[] = [];
    const revoked: string[] = [];
    let maxCrlNumber = 0n;
    let stop = false;
    let cut = 0;

    const signer = async (i: number) => {
      for (let n = 0; !stop; n++) {
        try {
          const answer = await signRemote(first.url, tenant, csrs[(i + n) % csrs.length].csr);
          if (answer.status === 200) received.push(answer.serialNumber!);
          // Every fourth certificate of a signer is revoked again right away.
          if (answer.status === 200 && n % 4 === 0) {
            const res = await revokeRemote(first.url, tenant, answer.serialNumber!);
            if (res.status === 200) revoked.push(answer.serialNumber!);
          }
        } catch {
          cut++; // the process is gone: this answer never came
        }
      }
    };
    const crlWatcher = async () => {
      while (!stop) {
        try {
          const crl = await fetchRemoteCrl(first.url);
          if (crl.number > maxCrlNumber) maxCrlNumber = crl.number;
        } catch {
          // the process is gone
        }
        await sleep(50);
      }
    };

    const load = Promise.all([...Array.from({ length: 12 }, (_, i) => signer(i)), crlWatcher()]);
    const started = Date.now();
    await eventually(
      async () => received.length >= 50 && revoked.length >= 5 && Date.now() - started > 1500,
      45_000,
      20,
      'the signing burst under way (50 certificates received, 5 revoked)',
    );
    first.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    stop = true;
    await load;
    expect(received.length).toBeGreaterThanOrEqual(50);
    expect(revoked.length).toBeGreaterThanOrEqual(5);
    expect(maxCrlNumber).toBeGreaterThan(1n);
    expect(cut).toBeGreaterThan(0); // killed with requests in flight

    // Committed before answered: every certificate a client holds is in the ledger.
    const rows = await direct.query<{ serial_number: string; revoked: boolean }>(
      "SELECT serial_number, revoked_at IS NOT NULL AS revoked FROM certificates WHERE account = 'acme'",
    );
    const ledger = new Map(rows.rows.map((r) => [r.serial_number, r.revoked]));
    expect(received.filter((s) => !ledger.has(s))).toEqual([]);
    expect(revoked.filter((s) => ledger.get(s) !== true)).toEqual([]);
    const stored = await direct.query<{ n: string }>('SELECT crl_number::text AS n FROM crls');
    expect(BigInt(stored.rows[0].n)).toBeGreaterThanOrEqual(maxCrlNumber);

    const second = await start();
    const afterRestart = await fetchRemoteCrl(second.url);
    expect(afterRestart.number).toBeGreaterThanOrEqual(maxCrlNumber);
    // Revocations acknowledged just before the kill, whose CRL build died with the process, are built by the new one.
    await eventually(
      async () => {
        const listed = new Set((await fetchRemoteCrl(second.url)).serials);
        return revoked.every((s) => listed.has(s));
      },
      20_000,
      100,
      'every acknowledged revocation on the restarted CRL',
    );

    const more = received.find((s) => !revoked.includes(s) && ledger.get(s) === false)!;
    expect((await revokeRemote(second.url, tenant, more)).status).toBe(200);
    const latest = await eventually(
      async () => {
        const crl = await fetchRemoteCrl(second.url);
        return crl.serials.includes(more) ? crl : null;
      },
      20_000,
      50,
      'the new revocation on the CRL',
    );
    expect(latest.number).toBeGreaterThan(maxCrlNumber);
    expect(latest.number).toBeGreaterThan(afterRestart.number);
  }, 150_000);
});
