import { verifyAuditChain } from '../../src/services/audit-verification';
import { backends, createTestDatabase } from '../helpers/backends';
import { fixture } from '../helpers/openssl';
import { startTestService, type TestService } from '../helpers/test-service';

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

/** Two app instances on one PostgreSQL, sharing the CA files and token pepper as replicas do. */
postgresOnly('the audit trail of two replicas on one PostgreSQL', () => {
  it('stays one verifiable chain while both sign, fail and record at once', async () => {
    const db = await createTestDatabase('postgres');
    const a = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40) } });
    const caFiles = { CA_CERT_FILE: `${a.dataDir}/ca/ca.crt`, CA_KEY_FILE: `${a.dataDir}/ca/ca.key` };
    const b = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40), ...caFiles } });
    try {
      const csr = await fixture('ec-p256.csr');
      const sign = (t: TestService) => t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').set('Accept', 'application/json').send(csr);
      const wrong = (t: TestService) => t.http.get('/keys').set({ 'X-API-AppKey': 'test-admin-key', 'X-API-AppToken': 'wrong-token-000000000000000000000000' });
      const burst = (t: TestService) => Promise.all(Array.from({ length: 60 }, (_, i) => (i % 6 === 5 ? wrong(t) : sign(t))));
      const answers = (await Promise.all([burst(a), burst(b)])).flat();
      const serials = answers.filter((r) => r.status === 200).map((r) => r.body.serialNumber as string);
      expect(serials).toHaveLength(100);
      expect(answers.filter((r) => r.status === 401)).toHaveLength(20);
      await Promise.all([a.service.audit.drain(), b.service.audit.drain()]);

      const report = await verifyAuditChain(a.service.ledger.audit, 50);
      // Start of each replica: CA loaded, (first only) admin key, OCSP signer; then 100 signings and 20 failures.
      expect(report).toMatchObject({ intact: true, count: 2 + 1 + 2 + 100 + 20 });
      const signed = await a.service.ledger.audit.list({ action: 'certificate.sign' }, { limit: 1000 });
      expect(signed.map((r) => r.serialNumber)).toEqual(expect.arrayContaining(serials));
      const failures = await b.service.ledger.audit.list({ action: 'auth.failure' }, { limit: 1000 });
      expect(failures).toHaveLength(20);
      expect(failures.every((r) => r.actor === 'test-admin-key' && r.account === 'platform')).toBe(true);
    } finally {
      await b.service.close();
      await a.close();
    }
  }, 120_000);
});
