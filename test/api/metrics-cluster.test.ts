import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';
import { count } from '../helpers/metrics';
import { tempDir } from '../helpers/openssl';

const BIN = path.join(__dirname, '..', '..', 'bin', 'mtls-ca.js');
const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

/** One request on a fresh connection (no keep-alive), so the cluster's round robin spreads them over the workers. */
function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** The built service with WORKERS=2 on PostgreSQL (each worker a full replica sharing one port). */
postgresOnly('/metrics with WORKERS=2 (built bin)', () => {
  let db: TestDatabase;
  let dir: string;
  let child: ChildProcess;
  let port: number;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await tempDir();
    child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', MTLS_CA_DATA_DIR: dir, DATABASE_URL: db.url, WORKERS: '2', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATABASE_POOL_SIZE: '3' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Both workers log the port they listen on (the same one: the primary hands out one random port).
    port = await new Promise<number>((resolve, reject) => {
      const ports: number[] = [];
      let buffered = '';
      const timer = setTimeout(() => reject(new Error('the workers did not start within 60 s')), 60_000);
      child.once('exit', (code) => reject(new Error(`the service exited with ${code}`)));
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        const lines = (buffered + chunk).split('\n');
        buffered = lines.pop()!;
        for (const line of lines.filter((l) => l.startsWith('{'))) {
          const entry = JSON.parse(line) as { msg?: string; worker?: number; port?: number };
          if (entry.msg === 'mtls-ca is listening' && entry.worker !== undefined) ports.push(entry.port!);
        }
        if (ports.length === 2) {
          clearTimeout(timer);
          if (ports[0] === ports[1]) resolve(ports[0]);
          else reject(new Error(`the workers listen on different ports: ${ports.join(', ')}`));
        }
      });
    });
  }, 90_000);
  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await db.drop();
    await fs.rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('answers every scrape for the whole cluster: the sum over the workers', async () => {
    for (let i = 0; i < 20; i++) expect((await get(port, '/healthz')).status).toBe(200);
    const route = { method: 'GET', route: '/healthz', status: '200' };
    // Scrapes land on either worker; each one sees all 20 requests, not its own share of them.
    for (let i = 0; i < 6; i++) {
      const res = await get(port, '/metrics');
      expect(res.status).toBe(200);
      expect(count(res.body, 'mtlsca_http_requests_total', route)).toBe(20);
      // Pools are summed: two workers, DATABASE_POOL_SIZE=3 each.
      expect(count(res.body, 'mtlsca_db_pool_max_connections')).toBe(6);
    }
  });
});
