import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';
import { makeCsr } from '../helpers/openssl';
import { fetchRemoteCrl, revokeRemote, signRemote, type Headers } from '../helpers/remote';
import { eventually } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

interface Build {
  readonly replica: string;
  /** The stored CRL number the build started from (it makes previous + 1). */
  readonly previous: bigint | null;
  /** While the build held the CRL lock (entered after taking it; left before its commit). */
  readonly entered: number;
  readonly left: number;
}

/** Records every CRL build of a replica, inside the lock: which number it started from, and when. */
function recordBuilds(t: TestService, replica: string, builds: Build[]): void {
  const store = t.service.ledger.crls;
  const build = store.build.bind(store);
  store.build = (issuerKeyId, fn) =>
    build(issuerKeyId, async (ctx) => {
      const entered = performance.now();
      try {
        return await fn(ctx);
      } finally {
        builds.push({ replica, previous: ctx.previousNumber, entered, left: performance.now() });
      }
    });
}

async function listen(t: TestService): Promise<{ url: string; server: Server }> {
  const server = t.service.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Two replicas (two service instances in this process, over real HTTP) on one PostgreSQL database. */
postgresOnly('two replicas on one PostgreSQL under concurrent sign and revoke load', () => {
  let db: TestDatabase;
  let a: TestService;
  let b: TestService;
  let direct: Client;
  const servers: Server[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40) }, crl: { pollMs: 100 } });
    const caFiles = { CA_CERT_FILE: `${a.dataDir}/ca/ca.crt`, CA_KEY_FILE: `${a.dataDir}/ca/ca.key` };
    b = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40), ...caFiles }, crl: { pollMs: 100 } });
    direct = new Client({ connectionString: db.url });
    await direct.connect();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await direct?.end();
    await b?.service.close();
    await a?.close();
  });

  it('issues no duplicate serial, loses no revocation, builds one CRL at a time, and both converge on the newest CRL', async () => {
    // Every write of the stored CRL number, as the database saw it (test-only trigger in this test's database).
    await direct.query(`
      CREATE TABLE crl_writes (old_number bigint, new_number bigint, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION record_crl_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO crl_writes (old_number, new_number) VALUES (CASE WHEN TG_OP = 'UPDATE' THEN OLD.crl_number END, NEW.crl_number);
          RETURN NEW;
        END $$;
      CREATE TRIGGER crl_writes AFTER INSERT OR UPDATE ON crls FOR EACH ROW EXECUTE FUNCTION record_crl_write();`);
    const builds: Build[] = [];
    recordBuilds(a, 'a', builds);
    recordBuilds(b, 'b', builds);
    const [ha, hb] = await Promise.all([listen(a), listen(b)]);
    servers.push(ha.server, hb.server);

    const tenant: Headers = (await a.createKey('acme', ['role:tenant'])).headers;
    const csrs = await Promise.all([0, 1, 2, 3].map((i) => makeCsr(a.dataDir, `load${i}`, `/CN=app-${i}/OU=acme/C=BR`)));

    const received: string[] = [];
    const unrevoked: string[] = [];
    const revoked = new Set<string>();
    const failures: string[] = [];
    // At least 2.5 s of load, and on until there is enough of it (a busy machine is slower; 60 s at most).
    const minUntil = Date.now() + 2500;
    const deadline = Date.now() + 60_000;
    const more = () => Date.now() < minUntil || ((received.length <= 50 || revoked.size <= 15) && Date.now() < deadline);

    // Each worker signs on its replica and revokes, on the other replica, a certificate signed earlier by anyone.
    const worker = async (own: string, other: string, i: number) => {
      for (let n = 0; more(); n++) {
        const signed = await signRemote(own, tenant, csrs[(i + n) % csrs.length].csr);
        if (signed.status !== 200) failures.push(`sign ${signed.status} ${signed.text}`);
        else {
          received.push(signed.serialNumber!);
          unrevoked.push(signed.serialNumber!);
        }
        if (n % 3 === 2 && unrevoked.length > 0) {
          const serial = unrevoked.splice(Math.floor(Math.random() * unrevoked.length), 1)[0];
          const res = await revokeRemote(other, tenant, serial);
          if (res.status !== 200) failures.push(`revoke ${res.status} ${res.text}`);
          else revoked.add(serial);
        }
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? worker(ha.url, hb.url, i) : worker(hb.url, ha.url, i))));

    // Both replicas converge on the newest CRL, with every acknowledged revocation (how fast: `npm run bench`).
    await eventually(async () => {
      const [stored, ca, cb] = await Promise.all([
        direct.query<{ n: string }>('SELECT crl_number::text AS n FROM crls'),
        fetchRemoteCrl(ha.url),
        fetchRemoteCrl(hb.url),
      ]);
      const newest = BigInt(stored.rows[0].n);
      const complete = [...revoked].every((s) => ca.serials.includes(s));
      return ca.number === newest && cb.number === newest && ca.der.equals(cb.der) && complete;
    }, 15_000, 25, 'both replicas serving the newest CRL with every acknowledged revocation');

    expect(failures).toEqual([]);
    expect(received.length).toBeGreaterThan(50);
    expect(revoked.size).toBeGreaterThan(15);

    // No duplicate serials: each answer a different serial, and each in the ledger once; every acknowledged revocation recorded.
    expect(new Set(received).size).toBe(received.length);
    const rows = await direct.query<{ serial_number: string; revoked: boolean }>(
      "SELECT serial_number, revoked_at IS NOT NULL AS revoked FROM certificates WHERE account = 'acme'",
    );
    expect(rows.rows.length).toBe(received.length);
    const ledger = new Map(rows.rows.map((r) => [r.serial_number, r.revoked]));
    expect(received.filter((s) => !ledger.has(s))).toEqual([]);
    expect([...revoked].filter((s) => ledger.get(s) !== true)).toEqual([]);
    expect(rows.rows.filter((r) => r.revoked).length).toBe(revoked.size);

    // One build at a time: both replicas built, every build started from the number the previous one
    // stored (no number made twice, none skipped), and no two builds held the lock at once.
    expect(new Set(builds.map((x) => x.replica))).toEqual(new Set(['a', 'b']));
    const ordered = [...builds].sort((x, y) => x.entered - y.entered);
    for (let k = 1; k < ordered.length; k++) {
      expect(ordered[k].previous).toBe((ordered[k - 1].previous ?? 0n) + 1n);
      expect(ordered[k].entered).toBeGreaterThanOrEqual(ordered[k - 1].left);
    }
    const writes = await direct.query<{ old_number: string | null; new_number: string }>('SELECT old_number::text, new_number::text FROM crl_writes ORDER BY at');
    expect(writes.rows.length).toBe(builds.length);
    for (const w of writes.rows) expect(BigInt(w.new_number)).toBe(BigInt(w.old_number!) + 1n);
  }, 120_000);
});
