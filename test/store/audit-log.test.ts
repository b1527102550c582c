import { prepareAuditEntry, type AuditEvent } from '../../src/domain/audit-event';
import type { IssuedCertificate } from '../../src/domain/certificate';
import { CaError } from '../../src/domain/errors';
import { openLedger, type Ledger } from '../../src/store/ledger';
import { verifyAuditChain } from '../../src/services/audit-verification';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';

const T0 = new Date('2026-06-01T12:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  action: 'certificate.sign',
  outcome: 'success',
  actor: 'key-1',
  account: 'acme',
  serialNumber: '7B8AA2645EED7334E4BFDDB064591A6F',
  requestId: 'req',
  clientIp: '203.0.113.7',
  details: { commonName: 'erp' },
  ...over,
});

const cert = (serialNumber: string): IssuedCertificate => ({
  serialNumber,
  account: 'acme',
  commonName: 'erp',
  subject: 'CN=erp, OU=acme',
  publicKeySha256: 'ab'.repeat(32),
  notBefore: T0,
  notAfter: at(86_400),
  issuerKeyId: 'cd'.repeat(20),
  pem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
  issuedAt: T0,
  requestedBy: 'key-1',
  revocation: null,
});

describe.each(backends())('the audit log on %s', (backend) => {
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

  it('chains concurrent appends without gaps, in group commits, and reads back records that verify', async () => {
    const before = (await ledger.audit.head()).seq;
    const stored = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        ledger.audit.append(prepareAuditEntry(event({ requestId: `req-${i}`, details: i % 2 ? null : { n: String(i), text: 'ünïcødé 😀 \u0000' } }), at(i))),
      ),
    );
    expect(stored.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => before + i + 1));
    const head = await ledger.audit.head();
    expect(head.seq).toBe(before + 300);
    expect(stored.find((r) => r.seq === head.seq)!.hash).toBe(head.hash);
    expect(await verifyAuditChain(ledger.audit, 64)).toEqual({ intact: true, count: head.seq, head });
    // What is read back is exactly what was hashed.
    const [row] = await ledger.audit.chainPage(stored[0].seq - 1, 1);
    expect(row).toEqual(stored[0]);
    expect(row.details).toEqual({ n: '0', text: 'ünïcødé 😀 \uFFFD' });
  });

  it.each([
    ['UPDATE', "UPDATE audit_log SET account = 'forged' WHERE seq = 1"],
    ['UPDATE of no row', "UPDATE audit_log SET account = 'forged' WHERE false"],
    ['DELETE', 'DELETE FROM audit_log WHERE seq = 1'],
    ['DELETE of every row', 'DELETE FROM audit_log'],
    ['TRUNCATE', 'TRUNCATE audit_log'],
  ])('is append-only in the database: %s is refused', async (_name, sql) => {
    await ledger.audit.append(prepareAuditEntry(event(), T0));
    const before = await ledger.audit.head();
    await expect(ledger.sql.query(sql)).rejects.toThrow(/audit_log is append-only/);
    expect(await ledger.audit.head()).toEqual(before);
    expect((await verifyAuditChain(ledger.audit)).intact).toBe(true);
  });

  it('filters by each field and by time, newest first, with keyset pages', async () => {
    const fresh = await createTestDatabase(backend);
    const l = await openLedger(fresh.target);
    try {
      const append = (over: Partial<AuditEvent>, s: number) => l.audit.append(prepareAuditEntry(event(over), at(s)));
      await append({ action: 'certificate.sign', serialNumber: 'AA01' }, 1);
      await append({ action: 'certificate.revoke', serialNumber: 'AA01', account: 'acme' }, 2);
      await append({ action: 'auth.failure', outcome: 'failure', problem: 'unauthorized', actor: null, account: null, serialNumber: null }, 3);
      await append({ action: 'key.create', actor: 'key-2', account: 'globex', serialNumber: null }, 4);
      await append({ action: 'certificate.sign', serialNumber: 'BB02', account: 'globex', actor: 'key-2' }, 5);

      const seqs = async (filter: Parameters<Ledger['audit']['list']>[0], page: { limit: number; beforeSeq?: number } = { limit: 100 }) =>
        (await l.audit.list(filter, page)).map((r) => r.seq);
      expect(await seqs({})).toEqual([5, 4, 3, 2, 1]);
      expect(await seqs({ action: 'certificate.sign' })).toEqual([5, 1]);
      expect(await seqs({ outcome: 'failure' })).toEqual([3]);
      expect(await seqs({ account: 'globex' })).toEqual([5, 4]);
      expect(await seqs({ actor: 'key-2' })).toEqual([5, 4]);
      expect(await seqs({ serialNumber: 'AA01' })).toEqual([2, 1]);
      expect(await seqs({ since: at(2), until: at(4) })).toEqual([3, 2]);
      expect(await seqs({ account: 'acme', action: 'certificate.revoke' })).toEqual([2]);
      expect(await seqs({}, { limit: 2 })).toEqual([5, 4]);
      expect(await seqs({}, { limit: 2, beforeSeq: 4 })).toEqual([3, 2]);
      expect(await seqs({ action: 'certificate.sign' }, { limit: 2, beforeSeq: 5 })).toEqual([1]);
    } finally {
      await l.close();
      await fresh.drop();
    }
  });

  it('commits a certificate and its audit record in one statement: both or neither', async () => {
    const before = await ledger.audit.head();
    const [a, b] = await Promise.all(['A1B2', 'A1B3'].map((s) => ledger.certificates.insert(cert(s), prepareAuditEntry(event({ serialNumber: s }), T0))));
    expect([a.serialNumber, b.serialNumber]).toEqual(['A1B2', 'A1B3']);
    expect(new Set([a.seq, b.seq])).toEqual(new Set([before.seq + 1, before.seq + 2]));

    // A serial used twice: the certificate is refused, and so is its audit record.
    await expect(ledger.certificates.insert(cert('A1B2'), prepareAuditEntry(event({ serialNumber: 'A1B2', requestId: 'dup' }), T0))).rejects.toBeInstanceOf(CaError);
    expect((await ledger.audit.head()).seq).toBe(before.seq + 2);
    expect(await ledger.audit.list({ serialNumber: 'A1B2' }, { limit: 10 })).toHaveLength(1);
    expect((await verifyAuditChain(ledger.audit)).intact).toBe(true);
  });

  it('fails an append with the ledger-unavailable error when the database refuses it', async () => {
    const fresh = await createTestDatabase(backend);
    const l = await openLedger(fresh.target);
    try {
      await l.sql.exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse();`);
      const failed = await l.audit.append(prepareAuditEntry(event(), T0)).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(CaError);
      expect((failed as CaError).kind).toBe('ledger-unavailable');
      // …and a certificate whose audit record is refused is not recorded either.
      await expect(l.certificates.insert(cert('C0FFEE'), prepareAuditEntry(event({ serialNumber: 'C0FFEE' }), T0))).rejects.toBeInstanceOf(CaError);
      expect(await l.certificates.findBySerial('C0FFEE')).toBeNull();
    } finally {
      await l.close();
      await fresh.drop();
    }
  });
});

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

postgresOnly('the audit log shared by two replicas on PostgreSQL', () => {
  it('keeps one unbroken chain while both append at once', async () => {
    const db = await createTestDatabase('postgres');
    const [a, b] = await Promise.all([openLedger(db.target), openLedger(db.target)]);
    try {
      const burst = (l: Ledger, name: string) =>
        Promise.all(Array.from({ length: 400 }, (_, i) => l.audit.append(prepareAuditEntry(event({ actor: name, requestId: `${name}-${i}` }), at(i)))));
      const [fromA, fromB] = await Promise.all([burst(a, 'a'), burst(b, 'b')]);
      const seqs = [...fromA, ...fromB].map((r) => r.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: 800 }, (_, i) => i + 1));
      expect(await verifyAuditChain(a.audit, 100)).toMatchObject({ intact: true, count: 800 });
    } finally {
      await Promise.all([a.close(), b.close()]);
      await db.drop();
    }
  });
});
