import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { BIN, runCli, serviceEnv, spawnService, SPAWNED_ADMIN, type ServiceProcess } from '../helpers/service-process';
import { renewOnce, type RenewSettings } from '../../src/cli/cert-command';
import { runRenewDaemon } from '../../src/cli/renew-daemon';

/** The client CLI as an integrator runs it, against the real `mtls-ca serve` with HTTPS on. */
describe('mtls-ca cert (client CLI)', () => {
  let dir: string;
  let service: ServiceProcess;
  let httpsUrl: string;
  let caPem: string;
  const env = () => ({ MTLS_CA_APP_KEY: SPAWNED_ADMIN.appKey, MTLS_CA_APP_TOKEN: SPAWNED_ADMIN.appToken });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'client-cli-'));
    service = await spawnService(serviceEnv({
      dataDir: path.join(dir, 'data'),
      env: { HTTPS_PORT: '0', TLS_SERVER_NAMES: '127.0.0.1', RENEW_MIN_INTERVAL_SECONDS: '0', CERT_VALIDITY_DAYS: '1' },
    }));
    const line = await service.waitForLog((l) => l.msg === 'mtls-ca is listening for HTTPS', 60_000);
    httpsUrl = `https://127.0.0.1:${line.httpsPort as number}`;
    caPem = await (await fetch(`${service.url}/ca.pem`)).text();
    writeFileSync(path.join(dir, 'ca.pem'), caPem);
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('request: a local key (0600), a certificate openssl verifies against /ca.pem, the chain', async () => {
    const out = path.join(dir, 'req');
    const r = await runCli(['cert', 'request', '--url', service.url, '--cn', 'erp-connector', '--ou', 'acme', '--out', out], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(statSync(path.join(out, 'erp-connector.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(path.join(out, 'erp-connector.crt')));
    expect(cert.subject).toContain('CN=erp-connector');
    expect(execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(out, 'erp-connector.crt')]).toString()).toContain('OK');
    expect(readFileSync(path.join(out, 'ca-chain.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
  }, 120_000);

  it('renew: a new serial with the same key; --rekey a new key', async () => {
    const out = path.join(dir, 'ren');
    expect((await runCli(['cert', 'request', '--url', service.url, '--cn', 'renewer', '--ou', 'acme', '--key-type', 'rsa-2048', '--out', out], env())).code).toBe(0);
    const certPath = path.join(out, 'renewer.crt');
    const keyPath = path.join(out, 'renewer.key');
    const before = new X509Certificate(readFileSync(certPath));
    const keyBefore = readFileSync(keyPath, 'utf8');
    const r = await runCli(['cert', 'renew', '--url', httpsUrl, '--cert', certPath, '--key', keyPath, '--ca', path.join(dir, 'ca.pem')], {});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const after = new X509Certificate(readFileSync(certPath));
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(readFileSync(keyPath, 'utf8')).toBe(keyBefore);
    const r2 = await runCli(['cert', 'renew', '--url', httpsUrl, '--cert', certPath, '--key', keyPath, '--ca', path.join(dir, 'ca.pem'), '--rekey'], {});
    expect(r2.code).toBe(0);
    const rekeyed = new X509Certificate(readFileSync(certPath));
    expect(readFileSync(keyPath, 'utf8')).not.toBe(keyBefore);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(rekeyed.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(keyPath)))).toBe(true);
    expect(execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.pem'), certPath]).toString()).toContain('OK');
  }, 120_000);

  it('a certificate is renewed once: the same-key request again gets the same successor, a rekey of it is refused (409)', async () => {
    const out = path.join(dir, 'once');
    expect((await runCli(['cert', 'request', '--url', service.url, '--cn', 'once', '--ou', 'acme', '--out', out], env())).code).toBe(0);
    const certPath = path.join(out, 'once.crt');
    const keyPath = path.join(out, 'once.key');
    const oldPem = readFileSync(certPath);
    const oldCopy = path.join(out, 'old.crt');
    writeFileSync(oldCopy, oldPem);
    const args = (cert: string) => ['cert', 'renew', '--url', httpsUrl, '--cert', cert, '--key', keyPath, '--ca', path.join(dir, 'ca.pem')];
    expect((await runCli(args(certPath), {})).code).toBe(0);
    const successor = new X509Certificate(readFileSync(certPath)).serialNumber;
    expect(successor).not.toBe(new X509Certificate(oldPem).serialNumber);
    // The old certificate again (as if its first answer was lost): the same successor, no new certificate.
    expect((await runCli(args(oldCopy), {})).code).toBe(0);
    expect(new X509Certificate(readFileSync(oldCopy)).serialNumber).toBe(successor);
    // A rekey from the old certificate would mint a second successor: refused, naming the first.
    writeFileSync(oldCopy, oldPem);
    const rekey = await runCli([...args(oldCopy), '--rekey'], {});
    expect(rekey.code).not.toBe(0);
    expect(rekey.stderr).toMatch(/already renewed/);
    expect(rekey.stderr).toContain(successor.toUpperCase().replace(/^0+/, '').slice(0, 8));
    expect(readFileSync(oldCopy).equals(oldPem)).toBe(true);
  }, 120_000);

  it('renew --daemon: renews by itself at two thirds of the lifetime (injected clock) and runs the hook', async () => {
    const out = path.join(dir, 'daemon');
    expect((await runCli(['cert', 'request', '--url', service.url, '--cn', 'daemon', '--ou', 'acme', '--out', out], env())).code).toBe(0);
    const certPath = path.join(out, 'daemon.crt');
    const first = new X509Certificate(readFileSync(certPath));
    const lifetime = Date.parse(first.validTo) - Date.parse(first.validFrom);
    // The clock says 70 % of the lifetime has passed: the daemon renews at once through the real server.
    let now = Date.parse(first.validFrom) + lifetime * 0.7;
    const marker = path.join(out, 'hook-ran');
    const settings: RenewSettings = { url: httpsUrl, certPath, keyPath: path.join(out, 'daemon.key'), chainPath: path.join(out, 'ca-chain.pem'), ca: path.join(dir, 'ca.pem'), rekey: false };
    const delays: number[] = [];
    let stop!: () => void;
    const renewed: string[] = [];
    const logs: string[] = [];
    const done = runRenewDaemon({
      settings,
      exec: `touch ${JSON.stringify(marker)}`,
      renew: async (s) => { const issued = await renewOnce(s); renewed.push(issued.serialNumber); now = Date.parse(issued.notBefore) + 1000; return issued; },
      clock: { now: () => now },
      timers: { setTimeout: (fn, ms) => { delays.push(ms); return ms === 0 ? setTimeout(fn, 0) : undefined; }, clearTimeout: () => undefined },
      log: (l) => logs.push(l),
      stopSignal: (fn) => { stop = fn; },
    });
    const deadline = Date.now() + 60_000;
    // The hook's file can appear before the hook process exits; the daemon schedules the next renewal only
    // after that, so wait for the second schedule, not for the file.
    while (delays.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    stop();
    expect(await done).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(renewed).toHaveLength(1);
    const second = new X509Certificate(readFileSync(certPath));
    expect(second.serialNumber).not.toBe(first.serialNumber);
    // After the renewal it waits about two thirds of the new lifetime (minus at most 5 % jitter).
    const next = delays[delays.length - 1]!;
    expect(next).toBeGreaterThan(lifetime * 0.6);
    expect(next).toBeLessThan(lifetime * 0.67);
  }, 120_000);

  it('renew --daemon as a process: waits for its renewal time and exits 0 on SIGTERM', async () => {
    const out = path.join(dir, 'daemon-proc');
    expect((await runCli(['cert', 'request', '--url', service.url, '--cn', 'proc', '--ou', 'acme', '--out', out], env())).code).toBe(0);
    const child = spawn(process.execPath, [BIN, 'cert', 'renew', '--daemon', '--url', httpsUrl, '--cert', path.join(out, 'proc.crt'), '--key', path.join(out, 'proc.key'), '--ca', path.join(dir, 'ca.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while (!/next renewal in/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toMatch(/next renewal in \d+ s/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/stopping/);
  }, 120_000);

  it('errors: clear message, non-zero exit, no stack trace', async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['cert', 'request', '--url', service.url, '--cn', 'x', '--out', path.join(dir, 'e1')], { MTLS_CA_APP_KEY: 'nope', MTLS_CA_APP_TOKEN: 'nope' }, /HTTP 401/],
      [['cert', 'request', '--url', 'http://127.0.0.1:1', '--cn', 'x', '--out', path.join(dir, 'e2')], env(), /cannot reach/],
      [['cert', 'request', '--url', 'not a url', '--cn', 'x'], env(), /not a URL/],
      [['cert', 'request', '--cn', 'x'], env(), /--url is required/],
      [['cert', 'request', '--url', service.url, '--cn', 'x', '--bogus'], env(), /unknown flag --bogus/],
      [['cert', 'request', '--url', service.url, '--cn', 'x', '--p12-password', 'secret'], env(), /never taken on the command line/],
      [['cert', 'request', '--url', service.url, '--cn', 'x', '--key-type', 'dsa'], env(), /--key-type is ec-p256 or rsa-2048/],
      [['cert', 'request', '--url', service.url, '--cn', 'x', '--p12', 'x.p12'], env(), /--p12 needs --p12-password-file/],
      [['cert', 'request', '--url', service.url, '--cn', 'erp-connector', '--ou', 'acme', '--out', path.join(dir, 'req')], env(), /exists/],
      [['cert', 'renew', '--url', service.url, '--cert', 'a', '--key', 'b'], {}, /https/],
      [['cert', 'renew', '--url', httpsUrl, '--cert', path.join(dir, 'missing.crt'), '--key', 'b'], {}, /cannot read certificate/],
    ];
    for (const [args, e, message] of cases) {
      const r = await runCli(args, e);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 120_000);
});
