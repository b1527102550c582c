import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Row {
  scenario: string;
  result: string;
  p50?: string;
  p99?: string;
  peakRssMb?: number;
  target: string;
  met: boolean | null;
  /** CPU time of the server's Node processes per operation (process CPU time ÷ operations). */
  nodeCpu?: string;
  /** CPU time of the PostgreSQL backends serving the run per operation. */
  postgresCpu?: string;
  /** Ratio to the raw limit measured in the same run, e.g. "0.12 of raw sign". */
  ratio?: string;
  raw?: Record<string, unknown>;
}

export function machine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function printTable(rows: Row[]): string {
  const header = ['scenario', 'result', 'p50', 'p99', 'peak RSS', 'Node CPU / op', 'PostgreSQL CPU / op', 'target', 'met', 'ratio to raw limit'];
  const lines = rows.map((r) => [
    r.scenario,
    r.result,
    r.p50 ?? '',
    r.p99 ?? '',
    r.peakRssMb !== undefined ? `${r.peakRssMb} MB` : '',
    r.nodeCpu ?? '',
    r.postgresCpu ?? '',
    r.target,
    r.met === null ? 'n/a' : r.met ? 'yes' : 'NO',
    r.ratio ?? '',
  ]);
  const md = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
  return md;
}

export function saveResults(rows: Row[], file = path.join(__dirname, '..', '..', '..', 'bench', 'results.json')): void {
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: machine(), rows }, null, 2) + '\n');
}
