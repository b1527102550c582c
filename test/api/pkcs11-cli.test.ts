import { promises as fs } from 'node:fs';
import path from 'node:path';
import { makeCsr, openssl, opensslStatus, tempDir } from '../helpers/openssl';
import { runCli, serviceEnv, spawnService, SPAWNED_ADMIN } from '../helpers/service-process';
import { initToken, softHsmUnavailable, tokenUri, TOKEN_PIN, useSoftHsmDirectory } from '../helpers/softhsm';

jest.setTimeout(300_000);

const unavailable = softHsmUnavailable();
const describeHsm = unavailable ? describe.skip : describe;
const admin = { 'X-API-AppKey': SPAWNED_ADMIN.appKey, 'X-API-AppToken': SPAWNED_ADMIN.appToken };

/** Needs `npm run build` (the CLI runs dist/). The token directory is this file's own (SOFTHSM2_CONF). */
describeHsm(`npm start with CA_KEY_PKCS11_URI (SoftHSM2)${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let hsmDir: string;
  let dataDir: string;
  let work: string;
  beforeAll(async () => {
    hsmDir = useSoftHsmDirectory();
    initToken('cli-ca');
    initToken('other-ca');
    dataDir = await tempDir();
    work = await tempDir();
  });
  afterAll(async () => {
    for (const dir of [hsmDir, dataDir, work]) await fs.rm(dir, { recursive: true, force: true });
  });

  const env = (token: string) =>
    serviceEnv({
      dataDir,
      env: { CA_KEY_PKCS11_URI: tokenUri(token, 'ca-key'), CA_KEY_PKCS11_PIN: TOKEN_PIN, SOFTHSM2_CONF: process.env.SOFTHSM2_CONF! },
    });

  it('makes its root in the token, signs certificates, CRLs and OCSP answers there, keeps it across restarts, and refuses a token with another key', async () => {
    const first = await spawnService(env('cli-ca'), { startTimeoutMs: 120_000 });
    let caPem: string;
    try {
      caPem = await (await fetch(`${first.url}/ca.pem`)).text();
      await fs.writeFile(path.join(work, 'ca.pem'), caPem);
      const { csr } = await makeCsr(work, 'app', '/CN=hsm-app/OU=acme');
      const signed = await fetch(`${first.url}/private-certificates/sign`, { method: 'POST', headers: { ...admin, 'Content-Type': 'text/plain' }, body: csr.toString('utf8') });
      expect(signed.status).toBe(200);
      await fs.writeFile(path.join(work, 'app.crt'), await signed.text());
      expect((await openssl(['verify', '-CAfile', 'ca.pem', 'app.crt'], { cwd: work })).stdout).toContain('app.crt: OK');

      const ocsp = async () =>
        (await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', 'app.crt', '-url', `${first.url}/ocsp`, '-CAfile', 'ca.pem'], { cwd: work })).stdout;
      expect(await ocsp()).toContain('app.crt: good');

      const serial = (await openssl(['x509', '-in', 'app.crt', '-noout', '-serial'], { cwd: work })).stdout.trim().split('=')[1];
      expect((await fetch(`${first.url}/private-certificates/${serial}?reason=keyCompromise`, { method: 'DELETE', headers: admin })).status).toBe(200);
      expect(await ocsp()).toContain('app.crt: revoked');
      // The CRL signed in the token refuses the certificate (it may take a build: wait for it).
      let verdict = { code: 0, output: '' };
      for (let i = 0; i < 100 && verdict.code === 0; i++) {
        await fs.writeFile(path.join(work, 'crl.pem'), await (await fetch(`${first.url}/crl.pem`)).text());
        verdict = await opensslStatus(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', 'app.crt'], work);
        if (verdict.code === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(verdict.output).toMatch(/certificate revoked/);
    } finally {
      expect(await first.stop()).toEqual({ code: 0, signal: null });
    }

    // No private key byte on disk: the data directory holds the embedded database and nothing key-like.
    const files = (await fs.readdir(dataDir, { recursive: true })) as string[];
    expect(files.filter((f) => f.startsWith('ca'))).toEqual([]);
    for (const f of files) {
      const stat = await fs.stat(path.join(dataDir, f));
      if (stat.isFile() && stat.size < 4 * 1024 * 1024) expect((await fs.readFile(path.join(dataDir, f))).toString('latin1')).not.toContain('PRIVATE KEY');
    }

    const again = await spawnService(env('cli-ca'), { startTimeoutMs: 120_000 });
    try {
      expect(await (await fetch(`${again.url}/ca.pem`)).text()).toBe(caPem);
    } finally {
      await again.stop();
    }

    // Another token generates another key: the ledger is pinned to the first, so the start is refused.
    const other = await runCli(['serve'], env('other-ca'));
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/SPKI|another|pinned|does not match/i);
    expect(other.stdout).not.toMatch(/mtls-ca is listening/);
  });

  it('refuses to start with a wrong PIN, saying so', async () => {
    const wrong = await runCli(['serve'], { ...env('cli-ca'), CA_KEY_PKCS11_PIN: '9999' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/PIN/);
    expect(wrong.stderr).not.toContain('9999');
  });
});
