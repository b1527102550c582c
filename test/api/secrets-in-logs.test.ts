import { Writable } from 'node:stream';
import pino from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { startService } from '../../src/service';
import { fixture, tempDir } from '../helpers/openssl';
import { createTestDatabase } from '../helpers/backends';

/** Runs a whole session at trace level and searches every log line for each secret. */
describe('secrets never reach the logs', () => {
  it('keeps API tokens, the CA passphrase, the token pepper and the database password out of a full run', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const secrets = {
      bootstrapToken: 'bootstrap-token-SECRET-0123456789abcdefghij',
      passphrase: 'ca-passphrase-SECRET-42',
      pepper: 'pepper-SECRET-0123456789abcdefghijklmnopqrstu',
      dbPassword: 'db-password-SECRET',
      metricsToken: 'metrics-token-SECRET-0123456789',
      masterKey: 'master-key-SECRET-0123456789abcdefghijklmn',
    };
    const dataDir = await tempDir();
    const config = loadConfig({
      MTLS_CA_DATA_DIR: dataDir,
      MTLS_CA_BOOTSTRAP_APP_KEY: 'logs-admin',
      MTLS_CA_BOOTSTRAP_APP_TOKEN: secrets.bootstrapToken,
      CA_KEY_PASSPHRASE: secrets.passphrase,
      API_TOKEN_PEPPER: secrets.pepper,
      DATABASE_URL: `postgresql://user:${secrets.dbPassword}@127.0.0.1:1/none`,
      LOG_LEVEL: 'trace',
      METRICS_TOKEN: secrets.metricsToken,
      MTLS_CA_MASTER_KEY: secrets.masterKey,
    });
    const logger = pino({ level: 'trace' }, sink);
    const db = await createTestDatabase('pglite');
    const service = await startService(config, logger, { ledgerTarget: db.target });
    try {
      const http = request(service.app);
      const admin = { 'X-API-AppKey': 'logs-admin', 'X-API-AppToken': secrets.bootstrapToken };
      const created = await http.post('/keys').set(admin).send({ account: 'acme', permissions: ['role:tenant'] });
      const tenant = { 'X-API-AppKey': created.body.appKey, 'X-API-AppToken': created.body.appToken };
      const signed = await http.post('/private-certificates/sign').set(tenant).set('Content-Type', 'text/plain').send(await fixture('ec-p256.csr'));
      expect(signed.status).toBe(200);
      await http.delete(signed.headers.location).set(tenant);
      await http.get('/keys').set({ 'X-API-AppKey': 'logs-admin', 'X-API-AppToken': 'wrong-token-but-long-enough-000000' });
      await http.post('/private-certificates/sign').set(tenant).set('Content-Type', 'text/plain').send('garbage');
      expect((await http.get('/metrics').set('Authorization', `Bearer ${secrets.metricsToken}`)).status).toBe(200);
      expect((await http.get('/metrics').set('Authorization', `Bearer ${secrets.metricsToken}-wrong`)).status).toBe(401);
      const log = lines.join('');
      expect(log.length).toBeGreaterThan(0);
      for (const secret of [...Object.values(secrets), created.body.appToken as string]) expect(log).not.toContain(secret);
      // The CA private key itself (PEM body) is never logged either.
      expect(log).not.toMatch(/PRIVATE KEY/);
    } finally {
      await service.close();
    }
  });
});
