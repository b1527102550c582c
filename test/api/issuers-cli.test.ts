import { promises as fs } from 'node:fs';
import { tempDir } from '../helpers/openssl';
import { runCli, serviceEnv } from '../helpers/service-process';

/** `mtls-ca ca …` on the ledger directly, as an operator runs it (the embedded database of a stopped server). */
describe('mtls-ca ca list | rotate | activate', () => {
  it('rotates and activates from the command line, and refuses activating twice with exit 1', async () => {
    const dataDir = await tempDir();
    try {
      const env = serviceEnv({ dataDir });
      const list = await runCli(['ca', 'list'], env);
      expect(list.code).toBe(0);
      const [original] = JSON.parse(list.stdout).items;
      expect(original).toMatchObject({ state: 'active', original: true });

      const rotate = await runCli(['ca', 'rotate'], env);
      expect(rotate.code).toBe(0);
      const created = JSON.parse(rotate.stdout);
      expect(created).toMatchObject({ state: 'pending', backend: 'file', certificate: expect.stringContaining('BEGIN CERTIFICATE') });
      // The new key is owner-only in the data directory, never printed.
      expect(rotate.stdout).not.toContain('PRIVATE KEY');
      expect((await fs.stat(`${dataDir}/ca/issuers/${created.id}.key`)).mode & 0o077).toBe(0);

      const activate = await runCli(['ca', 'activate', created.id], env);
      expect(activate.code).toBe(0);
      expect(JSON.parse(activate.stdout).state).toBe('active');
      const twice = await runCli(['ca', 'activate', created.id], env);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(/already active/);
      const states = JSON.parse((await runCli(['ca', 'list'], env)).stdout).items.map((i: { state: string }) => i.state);
      expect(states).toEqual(['retired', 'active']);
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
