import { readFileSync } from 'node:fs';
import { Client } from 'pg';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds used so far by these processes (from /proc/<pid>/stat; 0 for any gone). */
export function cpuSecondsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* gone */
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** The PostgreSQL backends connected to `database` (their CPU is what serving it costs the server). */
export async function backendPids(adminUrl: string, database: string): Promise<number[]> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    return rows.map((r) => r.pid);
  } finally {
    await c.end();
  }
}

/**
 * CPU spent while `run` runs: by the server's processes, and by the database's backends (when given;
 * a backend that connected during the run counts from its start, one that left is not counted).
 */
export async function cpuDuring<T>(
  serverPids: () => number[],
  database: { adminUrl: string; name: string } | null,
  run: () => Promise<T>,
): Promise<{ result: T; nodeSeconds: number; postgresSeconds: number | null }> {
  const pids = serverPids();
  const pgBefore = new Map((database ? await backendPids(database.adminUrl, database.name) : []).map((p) => [p, cpuSecondsOf([p])]));
  const node0 = cpuSecondsOf(pids);
  const result = await run();
  const nodeSeconds = cpuSecondsOf(pids) - node0;
  let postgresSeconds: number | null = null;
  if (database) {
    postgresSeconds = 0;
    for (const p of await backendPids(database.adminUrl, database.name)) postgresSeconds += cpuSecondsOf([p]) - (pgBefore.get(p) ?? 0);
  }
  return { result, nodeSeconds, postgresSeconds };
}

/** "123 µs" per operation. */
export function perOp(seconds: number | null, operations: number): string {
  if (seconds === null || operations <= 0) return '';
  return `${Math.round((seconds * 1e6) / operations)} µs`;
}
