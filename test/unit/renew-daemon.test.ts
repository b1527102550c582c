import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { renewalDelayMs, runRenewDaemon } from '../../src/cli/renew-daemon';
import type { Issued } from '../../src/cli/cert-client';

describe('renewal daemon scheduling', () => {
  it('renews at two thirds of the lifetime, jitter only earlier (at most 5 % of the lifetime)', () => {
    expect(renewalDelayMs(0, 3000, 0, () => 0)).toBe(2000);
    expect(renewalDelayMs(0, 3000, 0, () => 1)).toBe(1850);
    expect(renewalDelayMs(0, 3000, 2500, () => 0)).toBe(0);
  });

  it('retries a failed renewal with growing backoff, stops cleanly while waiting', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'daemon-unit-'));
    try {
      const certPath = path.join(dir, 'c.crt');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'c.key'),
        '-out', certPath, '-days', '1', '-subj', '/CN=t'], { stdio: 'ignore' });
      const pending: Array<() => void> = [];
      const delays: number[] = [];
      let attempts = 0;
      let stop!: () => void;
      const done = runRenewDaemon({
        settings: { url: 'https://x', certPath, keyPath: path.join(dir, 'c.key'), chainPath: path.join(dir, 'chain'), rekey: false },
        renew: async (): Promise<Issued> => { attempts++; throw new Error('connection refused'); },
        clock: { now: () => Date.now() + 86_400_000 }, // past two thirds: renew at once
        timers: { setTimeout: (fn, ms) => { delays.push(ms); pending.push(fn); return pending.length; }, clearTimeout: () => undefined },
        random: () => 1,
        log: () => undefined,
        stopSignal: (fn) => { stop = fn; },
        minBackoffMs: 1000,
        maxBackoffMs: 4000,
      });
      for (let i = 0; i < 4; i++) {
        pending.shift()!();
        await new Promise((r) => setImmediate(r));
      }
      expect(attempts).toBe(4);
      expect(delays).toEqual([0, 1000, 2000, 4000, 4000]);
      stop();
      expect(await done).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing --exec hook is logged, not fatal: the daemon schedules the next renewal', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'daemon-hook-'));
    try {
      const certPath = path.join(dir, 'c.crt');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'c.key'),
        '-out', certPath, '-days', '1', '-subj', '/CN=t'], { stdio: 'ignore' });
      const logs: string[] = [];
      const pending: Array<() => void> = [];
      let stop!: () => void;
      const done = runRenewDaemon({
        settings: { url: 'https://x', certPath, keyPath: path.join(dir, 'c.key'), chainPath: path.join(dir, 'chain'), rekey: false },
        exec: 'exit 3',
        renew: async (): Promise<Issued> => ({ serialNumber: '01', certificate: '', chain: '', notBefore: '', notAfter: 'later' }),
        clock: { now: () => Date.now() + 86_400_000 },
        timers: { setTimeout: (fn) => { pending.push(fn); return pending.length; }, clearTimeout: () => undefined },
        log: (l) => logs.push(l),
        stopSignal: (fn) => { stop = fn; },
      });
      pending.shift()!();
      const deadline = Date.now() + 30_000;
      while (pending.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(logs.some((l) => /hook "exit 3" failed \(exit 3\)/.test(l))).toBe(true);
      expect(pending).toHaveLength(1); // the next renewal is scheduled
      stop();
      expect(await done).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
