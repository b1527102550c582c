import { GroupCommitter } from '../../src/store/group-commit';
import { isDataError } from '../../src/store/ledger-errors';

/** A flush that holds the first batch until released, so the next submissions pile up into one batch. */
function harness(failBatch: (rows: string[]) => Error | null) {
  const batches: string[][] = [];
  const singles: string[] = [];
  let release!: () => void;
  const firstHeld = new Promise<void>((r) => (release = r));
  const committer = new GroupCommitter<string>(
    async (rows) => {
      batches.push(rows);
      if (batches.length === 1) await firstHeld;
      const err = failBatch(rows);
      if (err) throw err;
    },
    async (row) => {
      singles.push(row);
      if (row === 'bad') throw Object.assign(new Error('value too long'), { code: '22001' });
    },
    { maxBatch: 100, maxInFlight: 1, retrySingly: isDataError },
  );
  return { committer, batches, singles, release };
}

const settle = (p: Promise<void>) => p.then(() => 'ok', (e: Error) => e.message);

describe('group commit', () => {
  it('retries the rows of a batch one by one when the server blamed the data, so only the bad row fails', async () => {
    const h = harness((rows) => (rows.includes('bad') ? Object.assign(new Error('value too long'), { code: '22001' }) : null));
    const first = settle(h.committer.submit('a'));
    const rest = ['b', 'bad', 'c'].map((r) => settle(h.committer.submit(r)));
    h.release();
    expect(await Promise.all([first, ...rest])).toEqual(['ok', 'ok', 'value too long', 'ok']);
    expect(h.batches).toEqual([['a'], ['b', 'bad', 'c']]);
    expect(h.singles.sort()).toEqual(['b', 'bad', 'c']);
  });

  it('fails every row of a batch at once when the database is gone or hung (no retry one by one)', async () => {
    const h = harness((rows) => (rows.length > 1 ? new Error('Query read timeout') : null));
    const first = settle(h.committer.submit('a'));
    const rest = ['b', 'c'].map((r) => settle(h.committer.submit(r)));
    h.release();
    expect(await Promise.all([first, ...rest])).toEqual(['ok', 'Query read timeout', 'Query read timeout']);
    expect(h.singles).toEqual([]);
  });

  it('tells data errors from connection failures', () => {
    expect(isDataError(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(true);
    expect(isDataError(Object.assign(new Error('lock timeout'), { code: '55P03' }))).toBe(false);
    expect(isDataError(Object.assign(new Error('reset'), { code: 'ECONNRESET', syscall: 'read' }))).toBe(false);
    expect(isDataError(new Error('Query read timeout'))).toBe(false);
  });
});

describe('group commit on a hung database', () => {
  it('fails rows that waited longer than maxWaitMs for a flush slot, without writing them', async () => {
    const flushed: string[][] = [];
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    const committer = new GroupCommitter<string>(
      async (rows) => {
        flushed.push(rows);
        if (flushed.length === 1) await hung;
      },
      async () => undefined,
      { maxBatch: 100, maxInFlight: 1, maxWaitMs: 50 },
    );
    const first = settle(committer.submit('a'));
    const late = settle(committer.submit('b'));
    await new Promise((r) => setTimeout(r, 80));
    release();
    expect(await first).toBe('ok');
    expect(await late).toMatch(/waited more than 50 ms/);
    expect(flushed).toEqual([['a']]);
    expect(await settle(committer.submit('c'))).toBe('ok'); // fresh rows go through again
  });
});

describe('group commit for a database on this thread (gatherTurn)', () => {
  it('flushes the rows submitted in one turn of the event loop together, even when a flush finishes at once', async () => {
    const batches: string[][] = [];
    const committer = new GroupCommitter<string>(
      async (rows) => void batches.push(rows),
      async () => undefined,
      { maxBatch: 100, maxInFlight: 1, gatherTurn: true },
    );
    const first = ['a', 'b', 'c'].map((r) => settle(committer.submit(r)));
    expect(await Promise.all(first)).toEqual(['ok', 'ok', 'ok']);
    expect(await settle(committer.submit('d'))).toBe('ok');
    expect(batches).toEqual([['a', 'b', 'c'], ['d']]);
  });
});
