import type { IdentityKeyring } from '../../src/domain/client-identity';
import { CaError } from '../../src/domain/errors';
import { backends } from '../helpers/backends';
import { startTestService, type TestService } from '../helpers/test-service';

describe.each(backends())('/forward rate per API key (%s)', (backend) => {
  let t: TestService;
  const keyring: IdentityKeyring = {
    tlsMaterial: async () => {
      throw new CaError('not-found', 'no such identity');
    },
  };
  beforeAll(async () => {
    t = await startTestService(backend, { env: { FORWARD_RATE_PER_KEY: '3' }, keyring });
  });
  afterAll(async () => t?.close());

  it('refuses a key over FORWARD_RATE_PER_KEY with 429 and Retry-After, before any route is looked at; other keys keep going', async () => {
    const a = await t.createKey('acme', ['forward']);
    const b = await t.createKey('acme', ['forward']);
    const send = (headers: Record<string, string>) => t.http.get('/forward').set(headers).set('X-Forward-Url', 'https://unmapped.example/');
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await send(a.headers)).status);
    // at most 3 a second get through to route matching (403: no route); the rest are 429
    expect(statuses.filter((s) => s === 403).length).toBeGreaterThanOrEqual(3);
    expect(statuses).toContain(429);
    const limited = await send(a.headers);
    if (limited.status === 429) expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await send(b.headers)).status).toBe(403);
  });
});
