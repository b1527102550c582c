import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, serviceEnv, spawnService, SPAWNED_ADMIN, type ServiceProcess } from '../helpers/service-process';

/**
 * `--p12` through the real CLI against the real server; keytool and openssl open the bundle.
 * Needs the PKCS#12 encoder of the pkcs12 branch (src/pkcs12/index.ts exporting encodePkcs12).
 */
describe('mtls-ca cert --p12', () => {
  let dir: string;
  let service: ServiceProcess;
  let httpsUrl: string;
  const env = { MTLS_CA_APP_KEY: SPAWNED_ADMIN.appKey, MTLS_CA_APP_TOKEN: SPAWNED_ADMIN.appToken };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'client-p12-'));
    service = await spawnService(serviceEnv({
      dataDir: path.join(dir, 'data'),
      env: { HTTPS_PORT: '0', TLS_SERVER_NAMES: '127.0.0.1', RENEW_MIN_INTERVAL_SECONDS: '0' },
    }));
    const line = await service.waitForLog((l) => l.msg === 'mtls-ca is listening for HTTPS', 60_000);
    httpsUrl = `https://127.0.0.1:${line.httpsPort as number}`;
    writeFileSync(path.join(dir, 'ca.pem'), await (await fetch(`${service.url}/ca.pem`)).text());
    writeFileSync(path.join(dir, 'pass'), 'correct horse battery\n', { mode: 0o600 });
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function keytoolList(p12: string): string {
    return execFileSync('keytool', ['-list', '-storetype', 'PKCS12', '-keystore', p12, '-storepass', 'correct horse battery']).toString();
  }

  it.each([['modern', []], ['legacy', ['--p12-legacy']]] as const)('request writes a %s bundle keytool and openssl open', async (_profile, extra) => {
    const out = path.join(dir, `req-${_profile}`);
    const p12 = path.join(out, 'erp.p12');
    const r = await runCli(['cert', 'request', '--url', service.url, '--cn', 'erp', '--ou', 'acme', '--out', out,
      '--p12', p12, '--p12-password-file', path.join(dir, 'pass'), ...extra], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(statSync(p12).mode & 0o777).toBe(0o600);
    expect(keytoolList(p12)).toMatch(/PrivateKeyEntry/);
    const pem = execFileSync('openssl', ['pkcs12', '-in', p12, '-nodes', '-passin', `file:${path.join(dir, 'pass')}`, ...(_profile === 'legacy' ? ['-legacy'] : [])]).toString();
    expect(pem).toContain('PRIVATE KEY');
    expect(pem).toMatch(/CN ?= ?erp/);
  }, 120_000);

  it('renew rewrites the bundle with the renewed certificate', async () => {
    const out = path.join(dir, 'ren');
    expect((await runCli(['cert', 'request', '--url', service.url, '--cn', 'ren', '--ou', 'acme', '--out', out], env)).code).toBe(0);
    const p12 = path.join(out, 'ren.p12');
    const r = await runCli(['cert', 'renew', '--url', httpsUrl, '--cert', path.join(out, 'ren.crt'), '--key', path.join(out, 'ren.key'),
      '--ca', path.join(dir, 'ca.pem'), '--p12', p12, '--p12-password-file', path.join(dir, 'pass')], {});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(keytoolList(p12)).toMatch(/PrivateKeyEntry/);
  }, 120_000);
});
