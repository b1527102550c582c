import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openToOthers, restrictToOwner } from '../../src/store/data-dir-modes';
import { tempDir } from '../helpers/openssl';

describe('restrictToOwner', () => {
  let root: string;
  beforeEach(async () => {
    root = await tempDir();
  });
  afterEach(() => fs.rm(root, { recursive: true, force: true }));

  it('makes a deep tree of 1,200 files 0600 and its directories 0700, and changes nothing the second time', async () => {
    const tree = path.join(root, 'pglite');
    for (let d = 0; d < 12; d++) {
      const dir = path.join(tree, `d${d}`, 'nested');
      await fs.mkdir(dir, { recursive: true });
      await Promise.all(Array.from({ length: 100 }, (_, f) => fs.writeFile(path.join(dir, `f${f}`), 'x', { mode: 0o666 })));
    }
    const all = [tree, ...(await fs.readdir(tree, { recursive: true })).map((n) => path.join(tree, n))];
    await Promise.all(all.map(async (p) => fs.chmod(p, (await fs.lstat(p)).isDirectory() ? 0o777 : 0o666)));

    expect(await restrictToOwner(tree)).toBe(all.length);
    const modes = await Promise.all(all.map(async (p) => [(await fs.lstat(p)).isDirectory(), (await fs.lstat(p)).mode & 0o7777] as const));
    expect(modes.filter(([dir, mode]) => mode !== (dir ? 0o700 : 0o600))).toEqual([]);
    expect(await restrictToOwner(tree)).toBe(0);
  });

  it('neither follows nor changes a symbolic link, and does nothing for an absent path', async () => {
    const outside = path.join(root, 'outside.txt');
    await fs.writeFile(outside, 'not ours');
    await fs.chmod(outside, 0o644);
    const tree = path.join(root, 'ca');
    await fs.mkdir(tree);
    await fs.symlink(outside, path.join(tree, 'link'));
    await fs.symlink(outside, path.join(root, 'token-pepper'));
    await restrictToOwner(tree);
    expect(await restrictToOwner(path.join(root, 'token-pepper'))).toBe(0);
    expect((await fs.stat(outside)).mode & 0o777).toBe(0o644);
    expect(await restrictToOwner(path.join(root, 'absent'))).toBe(0);
  });
});

describe('openToOthers', () => {
  it('names the mode of a directory group or others may enter, null for an owner-only or absent one', async () => {
    const dir = await tempDir();
    try {
      await fs.chmod(dir, 0o755);
      expect(await openToOthers(dir)).toBe(0o755);
      await fs.chmod(dir, 0o750);
      expect(await openToOthers(dir)).toBe(0o750);
      await fs.chmod(dir, 0o700);
      expect(await openToOthers(dir)).toBeNull();
      expect(await openToOthers(path.join(dir, 'absent'))).toBeNull();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
