import { binaryBody } from '../helpers/binary';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backends, createTestDatabase } from '../helpers/backends';
import { openssl } from '../helpers/openssl';
import { crlSerials, fetchCrl } from '../helpers/crl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

/** Asks a replica's /ocsp about a certificate (request and answer read by openssl). */
async function ocspStatus(t: TestService, certPath: string): Promise<string> {
  await fs.writeFile(path.join(t.dataDir, 'ca.pem'), (await t.http.get('/ca.pem')).text);
  await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', certPath, '-no_nonce', '-reqout', 'req.der'], { cwd: t.dataDir });
  const response = await t.http
    .post('/ocsp')
    .set('Content-Type', 'application/ocsp-request')
    .send(await fs.readFile(path.join(t.dataDir, 'req.der')))
    .buffer(true)
    .parse(binaryBody);
  await fs.writeFile(path.join(t.dataDir, 'resp.der'), response.body as Buffer);
  const text = (await openssl(['ocsp', '-respin', 'resp.der', '-resp_text', '-noverify'], { cwd: t.dataDir })).stdout;
  return /Cert Status: (\w+)/.exec(text)?.[1] ?? 'none';
}

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

/** Two app instances on one PostgreSQL, sharing the CA files and token pepper as replicas do. */
postgresOnly('two replicas on one PostgreSQL', () => {
  it("shows a revoke made on one replica on the other's /crl, with one CRL number sequence", async () => {
    const db = await createTestDatabase('postgres');
    const a = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40) }, crl: { pollMs: 100 } });
    const caFiles = { CA_CERT_FILE: `${a.dataDir}/ca/ca.crt`, CA_KEY_FILE: `${a.dataDir}/ca/ca.key` };
    const b = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40), ...caFiles }, crl: { pollMs: 100 } });
    try {
      const tenant = await a.createKey('acme', ['role:tenant']);
      const c = await issue(a, tenant.headers);
      const before = (await fetchCrl(b)).number;
      expect(await ocspStatus(a, c.certPath)).toBe('good'); // now cached on a
      const res = await b.http.delete(`/private-certificates/${c.serialNumber}`).set(tenant.headers);
      expect(res.status).toBe(200);
      await eventually(async () => crlSerials((await fetchCrl(a)).crl).includes(c.serialNumber), 10_000, 25, "the revocation on the other replica's CRL");
      const [fa, fb] = await Promise.all([fetchCrl(a), fetchCrl(b)]);
      expect(fa.number).toBe(fb.number);
      expect(fa.number).toBeGreaterThan(before);
      expect(fa.der.equals(fb.der)).toBe(true);

      // OCSP on the replica that did not revoke says revoked too (its cached 'good' went with the old CRL).
      expect(await ocspStatus(a, c.certPath)).toBe('revoked');
    } finally {
      await b.service.close();
      await a.close();
    }
  });
});
