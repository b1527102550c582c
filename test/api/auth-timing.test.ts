import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { TokenHasher } from '../../src/domain/api-key';
import { createHttpServer } from '../../src/http/server';
import { httpLimitsOf } from '../../src/main';
import { loadConfig } from '../../src/config';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';

const WRONG = 'a-wrong-token-of-plausible-length-000000000';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

describe('an unknown appKey and a wrong token are indistinguishable', () => {
  let t: TestService;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    t = await startTestService('pglite');
    server = createHttpServer(t.service.app, httpLimitsOf(loadConfig({})));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await t.close();
  });

  const attempt = async (appKey: string) => {
    const started = process.hrtime.bigint();
    const res = await fetch(`${base}/private-certificates`, { headers: { 'X-API-AppKey': appKey, 'X-API-AppToken': WRONG } });
    const body = await res.text();
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: res.status, body };
  };

  it('in status and body', async () => {
    const known = await attempt(ADMIN.appKey);
    const unknown = await attempt('nobody-has-this-key');
    expect(known.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(known.body).toBe(unknown.body);
  });

  it('in the work done: one HMAC and one (cached) lookup either way', () => {
    const hasher = new TokenHasher(Buffer.alloc(32, 7));
    const spy = jest.spyOn(hasher, 'hash');
    const stored = hasher.hash('the-real-token');
    spy.mockClear();
    expect(hasher.verify(WRONG, stored)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(hasher.verify(WRONG, null)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(hasher.verify('the-real-token', null)).toBe(false);
  });

  it('in time: interleaved attempts have the same median latency (within noise)', async () => {
    // Warm both paths (lookup caches, JIT), then interleave so drift on the machine hits both alike.
    for (let i = 0; i < 50; i++) {
      await attempt(ADMIN.appKey);
      await attempt(`warm-unknown-${i % 5}`);
    }
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 300; i++) {
      const order = i % 2 === 0;
      const a = await attempt(order ? ADMIN.appKey : `unknown-key-${i % 5}`);
      const b = await attempt(order ? `unknown-key-${i % 5}` : ADMIN.appKey);
      (order ? known : unknown).push(a.ms);
      (order ? unknown : known).push(b.ms);
    }
    const mk = median(known);
    const mu = median(unknown);
    // A database round trip for one side only would show as a difference well above this bound.
    expect(Math.abs(mk - mu)).toBeLessThan(Math.max(0.4, 0.2 * Math.min(mk, mu)));
  });
});
