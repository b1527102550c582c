import { promises as fs } from 'node:fs';
import { MASTER_KEY, OTHER_MASTER_KEY } from '../helpers/custody';
import { tempDir } from '../helpers/openssl';
import { runCli, serviceEnv, spawnService } from '../helpers/service-process';

jest.setTimeout(300_000);

/** Needs `npm run build` (the CLI runs dist/). */
describe('the CA custody through the real CLI', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await tempDir();
  });
  afterAll(() => fs.rm(dataDir, { recursive: true, force: true }));

  it('refuses to start with a wrong master key (exit 1, a clear message), and after `secrets rewrap` only the new key starts it, serving the same CA', async () => {
    const env = (masterKey: string) => serviceEnv({ dataDir, env: { MTLS_CA_MASTER_KEY: masterKey } });
    const first = await spawnService(env(MASTER_KEY), { startTimeoutMs: 120_000 });
    const caPem = await (await fetch(`${first.url}/ca.pem`)).text();
    expect(caPem).toContain('BEGIN CERTIFICATE');
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    const wrong = await runCli(['serve'], env(OTHER_MASTER_KEY));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^mtls-ca: cannot unwrap the CA key: wrong MTLS_CA_MASTER_KEY\?/m);
    expect(wrong.stdout + wrong.stderr).not.toContain(OTHER_MASTER_KEY);
    expect(wrong.stdout).not.toMatch(/mtls-ca is listening/);

    const noNewKey = await runCli(['secrets', 'rewrap'], env(MASTER_KEY));
    expect(noNewKey.code).toBe(1);
    expect(noNewKey.stderr).toMatch(/MTLS_CA_NEW_MASTER_KEY is not set/);

    const rewrap = await runCli(['secrets', 'rewrap'], { ...env(MASTER_KEY), MTLS_CA_NEW_MASTER_KEY: OTHER_MASTER_KEY });
    expect(rewrap).toMatchObject({ code: 0 });
    expect(rewrap.stdout).toMatch(/^rewrapped 2 secrets under master key version 2;/);
    expect(rewrap.stdout + rewrap.stderr).not.toContain(MASTER_KEY);
    expect(rewrap.stdout + rewrap.stderr).not.toContain(OTHER_MASTER_KEY);

    const old = await runCli(['serve'], env(MASTER_KEY));
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/cannot unwrap the CA key: wrong MTLS_CA_MASTER_KEY\?/);

    const renewed = await spawnService(env(OTHER_MASTER_KEY), { startTimeoutMs: 120_000 });
    try {
      expect(await (await fetch(`${renewed.url}/ca.pem`)).text()).toBe(caPem);
    } finally {
      await renewed.stop();
    }
  });
});
