import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { RenewSettings } from './cert-command';
import type { Issued } from './cert-client';

export interface DaemonClock { now(): number }
export interface DaemonTimers { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void }

export interface DaemonOptions {
  settings: RenewSettings;
  exec?: string;
  renew: (s: RenewSettings) => Promise<Issued>;
  clock?: DaemonClock;
  timers?: DaemonTimers;
  random?: () => number;
  log?: (line: string) => void;
  /** Resolves the daemon's stop; defaults to SIGTERM/SIGINT. */
  stopSignal?: (stop: () => void) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** When to renew: two thirds into the lifetime, minus up to 5 % of it as jitter (fleets spread out). */
export function renewalDelayMs(notBefore: number, notAfter: number, now: number, random: () => number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const at = notBefore + (lifetime * 2) / 3 - lifetime * 0.05 * random();
  return Math.max(0, at - now);
}

export function runHook(command: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => { log(`hook failed to start: ${e.message}`); resolve(); });
    child.on('exit', (code, signal) => {
      if (code !== 0) log(`hook "${command}" failed (${signal ?? `exit ${code}`}); the certificate was renewed`);
      resolve();
    });
  });
}

/** Keeps a certificate renewed until stopped; resolves with exit code 0 on a clean stop. */
export function runRenewDaemon(o: DaemonOptions): Promise<number> {
  const clock = o.clock ?? { now: () => Date.now() };
  const timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, Math.min(ms, 2_147_000_000)), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
  const random = o.random ?? Math.random;
  const log = o.log ?? ((line: string) => process.stderr.write(`${new Date(clock.now()).toISOString()} mtls-ca cert renew: ${line}\n`));
  const minBackoff = o.minBackoffMs ?? 5_000;
  const maxBackoff = o.maxBackoffMs ?? 3_600_000;
  let handle: unknown;
  let stopped = false;
  let failures = 0;
  let running: Promise<void> = Promise.resolve();

  return new Promise<number>((resolve) => {
    const stop = () => {
      if (stopped) return;
      stopped = true;
      if (handle !== undefined) timers.clearTimeout(handle);
      log('stopping');
      void running.then(() => resolve(0));
    };
    (o.stopSignal ?? ((fn) => { process.once('SIGTERM', fn); process.once('SIGINT', fn); }))(stop);

    const schedule = () => {
      if (stopped) return;
      let delay: number;
      try {
        const cert = new X509Certificate(readFileSync(o.settings.certPath));
        delay = renewalDelayMs(Date.parse(cert.validFrom), Date.parse(cert.validTo), clock.now(), random);
        log(`next renewal in ${Math.round(delay / 1000)} s (certificate valid until ${new Date(cert.validTo).toISOString()})`);
      } catch (e) {
        log(`cannot read ${o.settings.certPath}: ${(e as Error).message}; retrying`);
        delay = backoff();
      }
      handle = timers.setTimeout(tick, delay);
    };
    const backoff = () => {
      const base = Math.min(maxBackoff, minBackoff * 2 ** failures);
      failures++;
      return base / 2 + (base / 2) * random();
    };
    const tick = () => {
      handle = undefined;
      if (stopped) return;
      running = (async () => {
        try {
          const issued = await o.renew(o.settings);
          failures = 0;
          log(`renewed: serial ${issued.serialNumber}, valid until ${issued.notAfter}`);
          if (o.exec) await runHook(o.exec, log);
          schedule();
        } catch (e) {
          const delay = backoff();
          log(`renewal failed: ${(e as Error).message}; retrying in ${Math.round(delay / 1000)} s`);
          if (!stopped) handle = timers.setTimeout(tick, delay);
        }
      })();
    };
    schedule();
  });
}
