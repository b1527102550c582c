import { promises as fs } from 'node:fs';
import path from 'node:path';

export class DataDirLockedError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An embedded PGlite data directory can be opened by one process only. This lock file says which,
 * so a second server or a CLI run gets a clear message instead of a corrupted database.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'mtls-ca.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await fs.rm(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(await fs.readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DataDirLockedError(
          `the embedded database in ${dir} is in use by process ${pid} (a running mtls-ca server?). ` +
            'Stop it first, or use the CLI through the running server with --url and an admin key.',
        );
      }
      if (pid === process.pid) throw new DataDirLockedError(`the embedded database in ${dir} is already open in this process`);
      await fs.rm(file, { force: true }); // stale lock of a dead process
    }
  }
  throw new DataDirLockedError(`could not lock ${dir}`);
}
