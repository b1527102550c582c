import { prepareAuditEntry } from '../../src/domain/audit-event';
import type { IssuedCertificate } from '../../src/domain/certificate';
import { CaError } from '../../src/domain/errors';
import { openLedger, type Ledger } from '../../src/store/ledger';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';

/** The ledger side of a renewal: the new row, the old one's revocation and the audit record commit together or not at all. */
describe.each(backends())('renewals in the ledger on %s', (backend) => {
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
  const entry = (serialNumber: string) =>
    prepareAuditEntry({ action: 'certificate.renew', outcome: 'success', account: 'acme', serialNumber }, new Date('2026-02-01T00:00:00Z'));
  const auditCount = async () => Number((await ledger.sql.query<{ n: string }>('SELECT count(*) AS n FROM audit_log'))[0].n);
  const superseded = { revokedAt: new Date('2026-02-01T00:00:00Z'), reason: 'superseded' as const, revokedBy: 'certificate:01' };

  it('records the new row with renewedFrom and revokes the old one in the same transaction', async () => {
    await ledger.certificates.insert(cert('A1'));
    const record = await ledger.certificates.insertRenewal(cert('A2', { renewedFrom: 'A1', requestedBy: 'certificate:A1' }), entry('A2'), superseded);
    expect(record.action).toBe('certificate.renew');
    expect(await ledger.certificates.findBySerial('A2')).toMatchObject({ renewedFrom: 'A1', revocation: null });
    expect((await ledger.certificates.findBySerial('A1'))?.revocation).toMatchObject({ reason: 'superseded', revokedBy: 'certificate:01' });
  });

  it('commits nothing when the old certificate was revoked meanwhile (no new row, no audit record)', async () => {
    await ledger.certificates.insert(cert('B1'));
    await ledger.certificates.revoke('B1', { revokedAt: new Date(), reason: 'keyCompromise', revokedBy: 'admin' });
    const before = await auditCount();
    const attempt = ledger.certificates.insertRenewal(cert('B2', { renewedFrom: 'B1' }), entry('B2'), superseded);
    await expect(attempt).rejects.toBeInstanceOf(CaError);
    await expect(attempt).rejects.toMatchObject({ kind: 'forbidden' });
    expect(await ledger.certificates.findBySerial('B2')).toBeNull();
    expect(await auditCount()).toBe(before);
    expect((await ledger.certificates.findBySerial('B1'))?.revocation?.reason).toBe('keyCompromise');
  });

  it('refuses a renewedFrom that names no certificate (foreign key)', async () => {
    await expect(ledger.certificates.insertRenewal(cert('C2', { renewedFrom: 'C1' }), entry('C2'), null)).rejects.toBeInstanceOf(CaError);
    expect(await ledger.certificates.findBySerial('C2')).toBeNull();
  });
});
