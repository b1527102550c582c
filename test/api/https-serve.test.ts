import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { makeCsr, openssl, opensslStatus, tempDir } from '../helpers/openssl';
import { serviceEnv, spawnService, SPAWNED_ADMIN, type ServiceProcess } from '../helpers/service-process';

jest.setTimeout(120_000);

function curl(args: string[]): Promise<{ code: number; status: number; body: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', ...args], (err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, status: Number(stdout.slice(i + 1)) || 0, body: stdout.slice(0, i) });
    });
  });
}

/** `mtls-ca serve` with HTTPS_PORT, as an operator runs it (embedded ledger). */
describe('mtls-ca serve with HTTPS_PORT', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('https-serve-');
  });
  afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

  async function start(env: Record<string, string>): Promise<{ svc: ServiceProcess; httpsPort: number }> {
    const dataDir = await fs.mkdtemp(path.join(dir, 'data-'));
    const svc = await spawnService(serviceEnv({ dataDir, env: { HTTPS_PORT: '0', ...env } }));
    const line = await svc.waitForLog((l) => l.msg === 'mtls-ca is listening for HTTPS');
    return { svc, httpsPort: Number(line.httpsPort) };
  }

  async function signed(svc: ServiceProcess, name: string) {
    const { csrPath, keyPath } = await makeCsr(dir, name, `/CN=${name}/OU=acme`);
    const res = await curl([
      '-H', `X-API-AppKey: ${SPAWNED_ADMIN.appKey}`, '-H', `X-API-AppToken: ${SPAWNED_ADMIN.appToken}`,
      '-H', 'Content-Type: text/plain', '--data-binary', `@${csrPath}`, `${svc.url}/private-certificates/sign`,
    ]);
    expect(res.status).toBe(200);
    const certPath = path.join(dir, `${name}.crt`);
    await fs.writeFile(certPath, res.body);
    return { certPath, keyPath };
  }

  it('serves the API over TLS with its own server certificate, renews with curl --cert, and stops cleanly', async () => {
    const { svc, httpsPort } = await start({ TLS_SERVER_NAMES: '127.0.0.1', RENEW_MIN_INTERVAL_SECONDS: '0' });
    try {
      const caPem = path.join(dir, 'ca.pem');
      await fs.writeFile(caPem, (await curl([`${svc.url}/ca.pem`])).body + '\n');
      const app = await signed(svc, 'served-app');
      const res = await curl(['-X', 'POST', '--cert', app.certPath, '--key', app.keyPath, '--cacert', caPem, `https://127.0.0.1:${httpsPort}/private-certificates/renew`]);
      expect(res).toMatchObject({ code: 0, status: 200 });
      const renewed = path.join(dir, 'served-app-new.crt');
      await fs.writeFile(renewed, res.body);
      expect((await opensslStatus(['verify', '-CAfile', caPem, renewed])).code).toBe(0);
      // The HTTPS port serves the rest of the API too, without a client certificate.
      expect((await curl(['--cacert', caPem, `https://127.0.0.1:${httpsPort}/healthz`])).status).toBe(200);
    } finally {
      expect((await svc.stop(15_000)).code).toBe(0);
    }
  });

  it('uses TLS_CERT_FILE and TLS_KEY_FILE instead when given', async () => {
    const key = path.join(dir, 'own.key');
    const cert = path.join(dir, 'own.crt');
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=own', '-days', '2', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const { svc, httpsPort } = await start({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
    try {
      expect(await curl(['--cacert', cert, `https://127.0.0.1:${httpsPort}/healthz`])).toMatchObject({ code: 0, status: 200 });
      const none = await curl(['-X', 'POST', '--cacert', cert, `https://127.0.0.1:${httpsPort}/private-certificates/renew`]);
      expect(none.status).toBe(401);
    } finally {
      expect((await svc.stop(15_000)).code).toBe(0);
    }
  });
});
