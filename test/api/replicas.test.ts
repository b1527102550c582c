import { backends, createTestDatabase } from '../helpers/backends';
import { crlSerials, fetchCrl } from '../helpers/crl';
import { eventually, issue } from '../helpers/sign';
import { startTestService } from '../helpers/test-service';

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

/** Two app instances on one PostgreSQL, sharing the CA files and token pepper as replicas do. */
postgresOnly('two replicas on one PostgreSQL', () => {
  it("shows a revoke made on one replica on the other's /crl within a second, with one CRL number sequence", async () => {
    const db = await createTestDatabase('postgres');
    const a = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40) }, crl: { pollMs: 100 } });
    const caFiles = { CA_CERT_FILE: `${a.dataDir}/ca/ca.crt`, CA_KEY_FILE: `${a.dataDir}/ca/ca.key` };
    const b = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40), ...caFiles }, crl: { pollMs: 100 } });
    try {
      const tenant = await a.createKey('acme', ['role:tenant']);
      const c = await issue(a, tenant.headers);
      const before = (await fetchCrl(b)).number;
      const res = await b.http.delete(`/private-certificates/${c.serialNumber}`).set(tenant.headers);
      expect(res.status).toBe(200);
      const started = Date.now();
      const onA = await eventually(async () => crlSerials((await fetchCrl(a)).crl).includes(c.serialNumber), 1500);
      expect(onA).toBe(true);
      expect(Date.now() - started).toBeLessThan(1000);
      const [fa, fb] = await Promise.all([fetchCrl(a), fetchCrl(b)]);
      expect(fa.number).toBe(fb.number);
      expect(fa.number).toBeGreaterThan(before);
      expect(fa.der.equals(fb.der)).toBe(true);
    } finally {
      await b.service.close();
      await a.close();
    }
  });
});
