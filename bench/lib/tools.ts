import { execFileSync } from 'node:child_process';

/** Whether `command` runs (wrk --version exits 1 after printing its version: found all the same). */
function present(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== 'ENOENT';
  }
}

/**
 * The load generator (wrk) and the comparison (cfssl): installed with apt-get when missing and the bench
 * runs as root; otherwise the bench falls back to autocannon and leaves the CFSSL row out, and says so.
 */
export function ensureTools(say: (line: string) => void): void {
  const missing = [
    { command: 'wrk', args: ['--version'], pkg: 'wrk' },
    { command: 'cfssl', args: ['version'], pkg: 'golang-cfssl' },
  ].filter((t) => !present(t.command, t.args));
  if (missing.length === 0) return;
  const pkgs = missing.map((t) => t.pkg);
  if (process.getuid?.() !== 0) {
    say(`missing ${pkgs.join(', ')} and not root: install them with apt-get install ${pkgs.join(' ')}`);
    return;
  }
  say(`installing ${pkgs.join(', ')} (apt-get)`);
  try {
    execFileSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    try {
      execFileSync('apt-get', ['update'], { stdio: 'ignore' });
      execFileSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (e) {
      say(`apt-get install ${pkgs.join(' ')} failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
}
