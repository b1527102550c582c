import { SessionPool } from '../../src/ca/pkcs11/session-pool';

const tick = () => new Promise((r) => setImmediate(r));

describe('the PKCS#11 session pool', () => {
  it('lets each session do one thing at a time and queues the rest in order', async () => {
    const pool = new SessionPool(['a', 'b', 'c']);
    const busy = new Set<string>();
    let most = 0;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const jobs = Array.from({ length: 20 }, (_, i) =>
      pool.use(async (session) => {
        expect(busy.has(session)).toBe(false);
        busy.add(session);
        most = Math.max(most, busy.size);
        order.push(i);
        await new Promise<void>((r) => releases.push(r));
        busy.delete(session);
        return session;
      }),
    );
    for (let done = 0; done < 20; done++) {
      for (let i = 0; i < 50 && releases.length === 0; i++) await tick();
      releases.shift()!();
    }
    const used = await Promise.all(jobs);
    expect(most).toBe(3);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(new Set(used)).toEqual(new Set(['a', 'b', 'c']));
  });

  it('gives a session back when the work fails', async () => {
    const pool = new SessionPool(['only']);
    await expect(pool.use(async () => Promise.reject(new Error('token said no')))).rejects.toThrow('token said no');
    await expect(pool.use(async (s) => s)).resolves.toBe('only');
  });

  it('drains: waits for work in flight, then refuses new work', async () => {
    const pool = new SessionPool(['a', 'b']);
    let release!: () => void;
    const inFlight = pool.use(() => new Promise<string>((r) => (release = () => r('done'))));
    const drained = pool.drain();
    let drainedYet = false;
    void drained.then(() => (drainedYet = true));
    await tick();
    expect(drainedYet).toBe(false);
    release();
    await expect(inFlight).resolves.toBe('done');
    expect((await drained).sort()).toEqual(['a', 'b']);
    await expect(pool.use(async (s) => s)).rejects.toThrow(/closed/);
  });
});
