import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';
import { makeCsr, tempDir } from '../helpers/openssl';
import { createRemoteKey, keyHeaders, signRemote } from '../helpers/remote';
import { serviceEnv, spawnService, SPAWNED_ADMIN } from '../helpers/service-process';

interface Entry {
  readonly path: string;
  readonly mode: number;
  readonly dir: boolean;
}

/** Everything below `root` (not root itself), without following links. */
async function walk(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const name of await fs.readdir(root, { recursive: true })) {
    const full = path.join(root, name);
    const stat = await fs.lstat(full);
    out.push({ path: full, mode: stat.mode & 0o7777, dir: stat.isDirectory() });
  }
  return out;
}

const octal = (mode: number) => `0${mode.toString(8)}`;

/** The entries whose mode is not owner-only, as "0666 path" lines (empty when all are). */
function notOwnerOnly(entries: Entry[]): string[] {
  return entries.filter((e) => e.mode !== (e.dir ? 0o700 : 0o600)).map((e) => `${octal(e.mode)} ${e.path}`);
}

/**
 * The real CLI (`npm run build` first): it runs with umask 077, tightens what an earlier version left
 * in its data directory (PGlite's files were 0666, directories 0777) and warns about an open data dir.
 */
describe.each(backends())('the data directory on %s is owner-only', (backend) => {
  let root: string;
  let dataDir: string;
  let db: TestDatabase | undefined;
  let notes: string;
  beforeAll(async () => {
    root = await tempDir();
    dataDir = path.join(root, 'data'); // absent: the first start creates it
    notes = path.join(dataDir, 'operator-notes.txt');
    if (backend === 'postgres') db = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await db?.drop();
    await fs.rm(root, { recursive: true, force: true });
  });

  const env = () => {
    const e = serviceEnv({ dataDir, databaseUrl: db?.url });
    delete e.API_TOKEN_PEPPER; // so the pepper is generated into the data directory, as by default
    return e;
  };

  /** Signs one certificate, so the ledger writes (new PGlite files are made while it runs). */
  const work = async (url: string) => {
    const acme = await createRemoteKey(url, keyHeaders(SPAWNED_ADMIN), 'acme', ['role:tenant']);
    const { csr } = await makeCsr(root, `c${Date.now()}`, '/CN=erp-connector/OU=acme');
    expect((await signRemote(url, acme, csr)).status).toBe(200);
  };

  it('creates everything it writes owner-only on a first start, and does not warn', async () => {
    const svc = await spawnService(env());
    try {
      await work(svc.url);
    } finally {
      expect(await svc.stop()).toMatchObject({ code: 0 });
    }
    const entries = await walk(dataDir);
    expect(entries.map((e) => path.relative(dataDir, e.path))).toEqual(
      expect.arrayContaining(['ca', 'ca/ca.key', 'ca/ca.crt', 'token-pepper', ...(backend === 'pglite' ? ['pglite', 'pglite/PG_VERSION'] : [])]),
    );
    expect(notOwnerOnly(entries)).toEqual([]);
    expect((await fs.stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(svc.logs.filter((l) => String(l.msg).includes('data directory is accessible'))).toEqual([]);
  });

  it('tightens the 0666 files and 0777 directories an earlier version left, keeps new files owner-only, and warns about a 0755 data dir', async () => {
    if (backend === 'pglite') {
      // An embedded database made the way an earlier version made it: with a permissive umask.
      await fs.rm(path.join(dataDir, 'pglite'), { recursive: true });
      const umask = process.umask(0);
      try {
        const old = new PGlite(path.join(dataDir, 'pglite'));
        await old.waitReady;
        await old.exec('CREATE TABLE left_behind (x int); INSERT INTO left_behind VALUES (1)');
        await old.close();
      } finally {
        process.umask(umask);
      }
    }
    for (const e of await walk(dataDir)) await fs.chmod(e.path, e.dir ? 0o777 : 0o666);
    await fs.chmod(dataDir, 0o755);
    await fs.writeFile(notes, 'not the service’s\n', { mode: 0o644 });
    await fs.chmod(notes, 0o644);
    const loosened = (await walk(dataDir)).filter((e) => e.path !== notes);
    expect(loosened.length).toBeGreaterThan(backend === 'pglite' ? 900 : 3);
    expect(notOwnerOnly(loosened)).toHaveLength(loosened.length);

    const svc = await spawnService(env());
    try {
      const warning = await svc.waitForLog((l) => String(l.msg).includes('data directory is accessible'));
      expect(warning).toMatchObject({ level: 40, dataDir, mode: '0755' });
      // Tightened at start, before the service answers.
      expect(notOwnerOnly((await walk(dataDir)).filter((e) => e.path !== notes))).toEqual([]);
      await work(svc.url);
    } finally {
      expect(await svc.stop()).toMatchObject({ code: 0 });
    }
    // And what the ledger wrote while running (and at its checkpoint on the way out) is owner-only too.
    expect(notOwnerOnly((await walk(dataDir)).filter((e) => e.path !== notes))).toEqual([]);
    // Only what the service owns: the operator's file and the data directory itself are left as they are.
    expect((await fs.stat(notes)).mode & 0o777).toBe(0o644);
    expect((await fs.stat(dataDir)).mode & 0o777).toBe(0o755);
  });
});
