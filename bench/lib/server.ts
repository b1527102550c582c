import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
export const BIN = path.join(ROOT, 'bin', 'mtls-ca.js');

export interface RunningServer {
  readonly url: string;
  readonly process: ChildProcess;
  /** Peak resident set (VmHWM) of the server and its workers, MB. */
  peakRssMb(): number;
  /** The server's process and its workers. */
  pids(): number[];
  stop(): Promise<void>;
}

function descendants(pid: number): number[] {
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
    const kids = out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
    return kids.flatMap((k) => [k, ...descendants(k)]);
  } catch {
    return [];
  }
}

export function peakRssMbOf(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kb = Math.max(kb, m ? Number(m[1]) : 0);
    } catch {
      /* gone */
    }
  }
  return Math.round(kb / 1024);
}

/** Starts `mtls-ca serve` as a user would, waits for /readyz. */
export async function startServer(env: Record<string, string>, port: number): Promise<RunningServer> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      HOST: '127.0.0.1',
      // Benchmarks measure capacity from one loopback client: the abuse limits would only measure themselves.
      RATE_LIMIT_SIGN_PER_IP: '0',
      RATE_LIMIT_PER_KEY: '0',
      AUTH_FAILURE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  let peak = 0;
  const sample = setInterval(() => {
    peak = Math.max(peak, peakRssMbOf([child.pid!, ...descendants(child.pid!)]));
  }, 500);
  return {
    url,
    process: child,
    peakRssMb: () => Math.max(peak, peakRssMbOf([child.pid!, ...descendants(child.pid!)])),
    pids: () => [child.pid!, ...descendants(child.pid!)],
    async stop() {
      clearInterval(sample);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
