import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/**
 * The real CLI (`node bin/mtls-ca.js serve`, running dist/) as a child process, for tests and soak
 * scripts that need real signals, real exits and kill -9. No test-framework imports here.
 * Run `npm run build` after changing src/, or the child runs the old code.
 */

export const BIN = path.join(__dirname, '..', '..', 'bin', 'mtls-ca.js');

/** The first admin key every spawned service is bootstrapped with. */
export const SPAWNED_ADMIN = { appKey: 'spawned-admin-key', appToken: 'spawned-admin-token-0123456789abcdefghijkl' };

/** A shared token pepper, so several processes on one database accept the same keys. */
export const SPAWNED_PEPPER = 'spawned-pepper-0123456789abcdefghijklmnopq';

/** The environment of a spawned replica: ephemeral port, loopback, JSON logs at info, limits off. */
export function serviceEnv(params: { dataDir: string; databaseUrl?: string; env?: Record<string, string> }): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: 'http://ca.test',
    MTLS_CA_DATA_DIR: params.dataDir,
    ...(params.databaseUrl ? { DATABASE_URL: params.databaseUrl } : {}),
    API_TOKEN_PEPPER: SPAWNED_PEPPER,
    MTLS_CA_BOOTSTRAP_APP_KEY: SPAWNED_ADMIN.appKey,
    MTLS_CA_BOOTSTRAP_APP_TOKEN: SPAWNED_ADMIN.appToken,
    LOG_LEVEL: 'info',
    // Rate limits would throttle load tests; 0 disables each.
    RATE_LIMIT_SIGN_PER_IP: '0',
    RATE_LIMIT_PER_KEY: '0',
    AUTH_FAILURE_LIMIT: '0',
    ...params.env,
  };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  readonly pid: number;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** False once the process has exited. */
  readonly running: boolean;
  /** stdout lines that parsed as JSON (the pino log), in order. */
  readonly logs: ReadonlyArray<Record<string, unknown>>;
  /** Everything written to stdout and stderr, as text. */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
  /** Settles when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Resolves with the first log line (present or future) that matches. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<Exit>;
}

/** Starts `mtls-ca serve` and resolves once it logs 'mtls-ca is listening' (the port comes from that line). */
export async function spawnService(env: Record<string, string>, options: { startTimeoutMs?: number; workers?: boolean } = {}): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let text = '';
  const watchers: Array<(line: Record<string, unknown>) => void> = [];
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    text += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        logs.push(parsed);
        for (const w of [...watchers]) w(parsed);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (text += chunk));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = logs.find(match);
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${text.slice(-4000)}`));
      }, timeoutMs);
      const watcher = (line: Record<string, unknown>) => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const onExit = (exit: Exit) => {
        done();
        reject(new Error(`the service exited (${JSON.stringify(exit)}) before a matching log line; output:\n${text.slice(-4000)}`));
      };
      const done = () => {
        clearTimeout(timer);
        const i = watchers.indexOf(watcher);
        if (i >= 0) watchers.splice(i, 1);
        child.off('exit', onExitListener);
      };
      const onExitListener = (code: number | null, signal: NodeJS.Signals | null) => onExit({ code, signal });
      watchers.push(watcher);
      child.once('exit', onExitListener);
    });

  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((l) => l.msg === 'mtls-ca is listening' && (!options.workers || l.worker !== undefined), options.startTimeoutMs ?? 90_000);
  } catch (e) {
    if (!hasExited) child.kill('SIGKILL');
    throw e;
  }
  const port = Number(listening.port);
  const self: ServiceProcess = {
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    get running() {
      return !hasExited;
    },
    logs,
    output: () => text,
    kill(signal = 'SIGTERM') {
      if (!hasExited) child.kill(signal);
    },
    exited,
    waitForLog,
    async stop(graceMs = 15_000) {
      self.kill('SIGTERM');
      const timer = setTimeout(() => self.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return self;
}

/** Runs the real CLI to its exit (bounded), with its output. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mtls-ca ${args.join(' ')} did not exit within ${timeoutMs} ms; output:\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
