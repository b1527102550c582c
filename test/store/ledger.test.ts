import type { ApiKey } from '../../src/domain/api-key';
import type { IssuedCertificate } from '../../src/domain/certificate';
import { CaError } from '../../src/domain/errors';
import { openLedger, type Ledger } from '../../src/store/ledger';
import { migrate, readMigrations } from '../../src/store/migrations';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';

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

  it('lets replicas start and migrate at the same time (advisory lock)', async () => {
    const fresh = await createTestDatabase(backend);
    try {
      const both = await Promise.all([openLedger(fresh.target), openLedger(fresh.target)]);
      await Promise.all(both.map((l) => l.close()));
    } finally {
      await fresh.drop();
    }
  });

  it('stores and maps a certificate row to the domain object, timestamps to the millisecond', async () => {
    const c = cert('7B8AA2645EED7334E4BFDDB064591A6F');
    await ledger.certificates.insert(c);
    expect(await ledger.certificates.findBySerial(c.serialNumber)).toEqual(c);
    expect(await ledger.certificates.findBySerial('0102')).toBeNull();
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
