import autocannon from 'autocannon';
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  tool: 'wrk' | 'autocannon';
  rate: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST' | 'DELETE';
  body?: string;
  headers?: Record<string, string>;
  connections?: number;
  seconds: number;
  /** The status a successful answer has (304 for conditional requests; wrk only tells 2xx/3xx from the rest). */
  expectStatus?: number;
}

let wrkPresent: boolean | undefined;
export function wrkAvailable(): boolean {
  if (wrkPresent === undefined) {
    try {
      execFileSync('wrk', ['--version'], { stdio: 'ignore' });
      wrkPresent = true;
    } catch (e) {
      // wrk --version exits 1 after printing its version
      wrkPresent = (e as { status?: number }).status === 1;
    }
  }
  return wrkPresent;
}

/**
 * A bounded load run against a loopback URL: wrk (C, cheap on the client side) when installed
 * (`apt-get install wrk`), otherwise autocannon. Large responses need wrk: autocannon's JS parser
 * caps out near 100 MB/s.
 */
export async function load(opts: LoadOptions): Promise<LoadResult> {
  return wrkAvailable() ? loadWithWrk(opts) : loadWithAutocannon(opts);
}

function ms(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

async function loadWithWrk(opts: LoadOptions): Promise<LoadResult> {
  const script = path.join(os.tmpdir(), `mtls-ca-wrk-${process.pid}-${Date.now()}.lua`);
  const lines = [`wrk.method = ${JSON.stringify(opts.method ?? 'GET')}`];
  if (opts.body !== undefined) lines.push(`wrk.body = ${JSON.stringify(opts.body)}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  writeFileSync(script, lines.join('\n'));
  const threads = Math.min(2, opts.connections ?? 32);
  const { stdout } = await run('wrk', ['-t', String(threads), '-c', String(opts.connections ?? 32), '-d', `${opts.seconds}s`, '--latency', '-s', script, opts.url], {
    maxBuffer: 1 << 20,
  });
  const get = (re: RegExp) => re.exec(stdout);
  const p50 = get(/50%\s+([\d.]+)(us|ms|s)/);
  const p99 = get(/99%\s+([\d.]+)(us|ms|s)/);
  const total = Number(get(/(\d+) requests in/)?.[1] ?? 0);
  // wrk counts answers outside 2xx/3xx itself; a response() hook would copy every body into Lua.
  const bad = Number(get(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const errors = get(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    tool: 'wrk',
    rate: (total - bad) / opts.seconds,
    p50: p50 ? ms(p50[1], p50[2]) : NaN,
    p99: p99 ? ms(p99[1], p99[2]) : NaN,
    requests: total,
    non2xx: bad,
    errors: errors ? errors.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0,
  };
}

async function loadWithAutocannon(opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: opts.url,
    method: opts.method ?? 'GET',
    body: opts.body,
    headers: opts.headers,
    connections: opts.connections ?? 32,
    duration: opts.seconds,
  });
  const expected = opts.expectStatus ?? 200;
  const stats = (result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  const matching = stats[String(expected)]?.count ?? 0;
  return {
    tool: 'autocannon',
    rate: matching / opts.seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.requests.total - matching,
    errors: result.errors + result.timeouts,
  };
}
