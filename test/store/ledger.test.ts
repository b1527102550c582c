import type { ApiKey } from '../../src/domain/api-key';
import type { IssuedCertificate } from '../../src/domain/certificate';
import { CaError } from '../../src/domain/errors';
import { promises as fs } from 'node:fs';
import { Client } from 'pg';
import { DataDirLockedError } from '../../src/store/data-dir-lock';
import { openLedger, type Ledger } from '../../src/store/ledger';
import { migrate, MIGRATION_LOCK_KEY, readMigrations } from '../../src/store/migrations';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';
import { tempDir } from '../helpers/openssl';
import { eventually } from '../helpers/sign';

/** One repository suite, run against each database the ledger supports. */
describe.each(backends())('the ledger on %s', (backend) => {
  let db: TestDatabase;
  let ledger: Ledger;
  beforeAll(async () => {
    db = await createTestDatabase(backend);
    ledger = await openLedger(db.target);
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
  });

  const cert = (serialNumber: string, over: Partial<IssuedCertificate> = {}): IssuedCertificate => ({
    serialNumber,
    account: 'acme',
    commonName: 'erp-connector',
    subject: 'CN=erp-connector, OU=acme',
    publicKeySha256: 'ab'.repeat(32),
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2027-01-01T00:00:00Z'),
    issuerKeyId: 'cd'.repeat(20),
    pem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
    issuedAt: new Date('2026-01-01T00:05:00.123Z'),
    requestedBy: 'key-1',
    revocation: null,
    ...over,
  });

  const key = (appKey: string, over: Partial<ApiKey> = {}): ApiKey => ({
    appKey,
    account: 'acme',
    permissions: ['certificates:sign'],
    tokenHash: 'hmac-sha256$x',
    createdAt: new Date('2026-01-01T00:00:00Z'),
    createdBy: null,
    disabledAt: null,
    ...over,
  });

  it('applies migrations once: a second run applies nothing', async () => {
    expect(await migrate(ledger.sql)).toEqual([]);
  });

  it('refuses to start when an applied migration was edited', async () => {
    const edited = (await readMigrations()).map((m, i) => (i === 0 ? { ...m, checksum: 'edited' } : m));
    await expect(migrate(ledger.sql, edited)).rejects.toThrow(/was changed after it was applied/);
  });

  if (backend === 'postgres') {
    it('lets replicas start together: each waits for the migration lock, the migrations apply once, and both see one database', async () => {
      const fresh = await createTestDatabase(backend);
      const holder = new Client({ connectionString: fresh.url });
      await holder.connect();
      const opened: Ledger[] = [];
      try {
        // Hold the migration lock, as a replica migrating right now would: both starts must queue behind it.
        await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        const starting = [openLedger(fresh.target), openLedger(fresh.target)];
        starting.forEach((p) => p.then((l) => opened.push(l), () => undefined));
        await eventually(
          async () => {
            const { rows } = await holder.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            );
            return rows[0].n === 2;
          },
          15_000,
          25,
          'both starting replicas waiting for the migration lock',
        );
        expect(opened).toHaveLength(0);
        await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
        const [a, b] = await Promise.all(starting);

        const applied = await holder.query<{ name: string }>('SELECT name FROM "_mtls_ca_migrations" ORDER BY name');
        expect(applied.rows.map((r) => r.name)).toEqual((await readMigrations()).map((m) => m.name));
        expect(await migrate(a.sql)).toEqual([]);
        const c = cert('0A0B0C0D0E0F10111213141516171819');
        await a.certificates.insert(c);
        expect(await b.certificates.findBySerial(c.serialNumber)).toEqual(c);
      } finally {
        await Promise.all(opened.map((l) => l.close()));
        await holder.end();
        await fresh.drop();
      }
    });
  } else {
    it('lets one process open an embedded data directory: a second open is refused, and reopening applies nothing', async () => {
      const dataDir = await tempDir();
      try {
        const results = await Promise.allSettled([openLedger({ kind: 'pglite', dataDir }), openLedger({ kind: 'pglite', dataDir })]);
        const opened = results.filter((r): r is PromiseFulfilledResult<Ledger> => r.status === 'fulfilled').map((r) => r.value);
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
        expect(opened).toHaveLength(1);
        expect(refused).toEqual([expect.any(DataDirLockedError)]);
        const c = cert('0A0B0C0D0E0F10111213141516171819');
        await opened[0].certificates.insert(c);
        await opened[0].close();

        const again = await openLedger({ kind: 'pglite', dataDir });
        try {
          expect(await migrate(again.sql)).toEqual([]);
          expect(await again.certificates.findBySerial(c.serialNumber)).toEqual(c);
        } finally {
          await again.close();
        }
      } finally {
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    });
  }

  it('stores and maps a certificate row to the domain object, timestamps to the millisecond', async () => {
    const c = cert('7B8AA2645EED7334E4BFDDB064591A6F');
    await ledger.certificates.insert(c);
    expect(await ledger.certificates.findBySerial(c.serialNumber)).toEqual(c);
    expect(await ledger.certificates.findBySerial('0102')).toBeNull();
  });

  it('queues one certificate.issued event per certificate of a batch, for the webhooks that subscribe to its account', async () => {
    await ledger.sql.query(
      `INSERT INTO webhooks (id, account, url, events, created_by) VALUES
         ('wh_batch_acme', 'batchco', 'https://a.example/hook', '{certificate.issued}', 'test'),
         ('wh_batch_other', 'otherco', 'https://b.example/hook', '{certificate.issued}', 'test')`,
    );
    try {
      const serials = ['BA7C0001', 'BA7C0002', 'BA7C0003'];
      await Promise.all(serials.map((s) => ledger.certificates.insert(cert(s, { account: 'batchco' })))); // one group commit
      const events = await ledger.sql.query<{ serial_number: string; hooks: string[] }>(
        `SELECT e.serial_number, array_agg(d.webhook_id) AS hooks FROM webhook_events e JOIN webhook_deliveries d ON d.event_id = e.id
          WHERE e.type = 'certificate.issued' AND e.account = 'batchco' GROUP BY e.id, e.serial_number ORDER BY e.id`,
      );
      expect(events).toEqual(serials.map((s) => ({ serial_number: s, hooks: ['wh_batch_acme'] })));
    } finally {
      await ledger.sql.query(`UPDATE webhooks SET deleted_at = now() WHERE id LIKE 'wh_batch_%'`);
    }
  });

  it('never reuses a serial number (primary key)', async () => {
    const c = cert('11223344556677889900AABBCCDDEEFF');
    await ledger.certificates.insert(c);
    await expect(ledger.certificates.insert(c)).rejects.toBeInstanceOf(CaError);
  });

  it('refuses a serial that is not canonical hex', async () => {
    await expect(ledger.certificates.insert(cert('4d:0a'))).rejects.toBeInstanceOf(CaError);
  });

  it('creates exactly one bootstrap key even when asked twice at once', async () => {
    const fresh = await createTestDatabase(backend);
    const l = await openLedger(fresh.target);
    try {
      const results = await Promise.all([l.apiKeys.createIfNoneExist(key('boot-1')), l.apiKeys.createIfNoneExist(key('boot-2'))]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await l.apiKeys.count()).toBe(1);
      expect(await l.apiKeys.createIfNoneExist(key('boot-3'))).toBe(false);
    } finally {
      await l.close();
      await fresh.drop();
    }
  });

  it('creates, finds, lists and disables API keys', async () => {
    await ledger.apiKeys.create(key('k-a', { account: 'acme', permissions: ['certificates:sign', 'certificates:read'] }));
    await ledger.apiKeys.create(key('k-b', { account: 'globex' }));
    await expect(ledger.apiKeys.create(key('k-a'))).rejects.toMatchObject({ kind: 'conflict' });
    expect(await ledger.apiKeys.find('k-a')).toMatchObject({ account: 'acme', permissions: ['certificates:sign', 'certificates:read'] });
    expect((await ledger.apiKeys.list('globex')).map((k) => k.appKey)).toEqual(['k-b']);
    const at = new Date('2026-02-02T00:00:00Z');
    expect((await ledger.apiKeys.disable('k-b', at))!.disabledAt).toEqual(at);
    expect((await ledger.apiKeys.disable('k-b', new Date()))!.disabledAt).toEqual(at);
    expect(await ledger.apiKeys.disable('nope', at)).toBeNull();
  });
});
