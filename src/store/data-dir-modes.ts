import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';

/** Owner-only modes for everything the service keeps in its data directory. */
export const OWNER_FILE_MODE = 0o600;
export const OWNER_DIR_MODE = 0o700;

/** How many directory entries are examined at once (lstat and chmod go to libuv's thread pool). */
const BATCH = 64;

/**
 * Gives `root` and everything below it owner-only modes (files 0600, directories 0700), as an
 * earlier version or PGlite's initdb (which writes its files 0666 whatever the umask) may have left
 * them. Symbolic links are neither followed nor changed; an absent `root` is nothing to do. One
 * lstat per entry, a chmod only where the mode differs. Returns how many modes it changed.
 */
export async function restrictToOwner(root: string): Promise<number> {
  const stat = await fs.lstat(root).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (!stat || stat.isSymbolicLink()) return 0;
  let changed = await setMode(root, stat.mode, stat.isDirectory() ? OWNER_DIR_MODE : OWNER_FILE_MODE);
  if (!stat.isDirectory()) return changed;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    for (let i = 0; i < entries.length; i += BATCH) {
      const counts = await Promise.all(entries.slice(i, i + BATCH).map((entry) => restrictEntry(dir, entry, pending)));
      changed += counts.reduce((a, b) => a + b, 0);
    }
  }
  return changed;
}

async function restrictEntry(dir: string, entry: Dirent, subdirs: string[]): Promise<number> {
  if (!entry.isFile() && !entry.isDirectory()) return 0; // links, sockets, fifos: not ours to change
  const full = path.join(dir, entry.name);
  const { mode } = await fs.lstat(full);
  if (entry.isDirectory()) subdirs.push(full);
  return setMode(full, mode, entry.isDirectory() ? OWNER_DIR_MODE : OWNER_FILE_MODE);
}

async function setMode(file: string, mode: number, wanted: number): Promise<number> {
  if ((mode & 0o7777) === wanted) return 0;
  await fs.chmod(file, wanted);
  return 1;
}

/** The permission bits of `dir` when group or others may access it; null when owner-only or absent. */
export async function openToOthers(dir: string): Promise<number | null> {
  const stat = await fs.stat(dir).catch(() => null);
  if (!stat || (stat.mode & 0o077) === 0) return null;
  return stat.mode & 0o777;
}
