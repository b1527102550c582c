import { Writable } from 'node:stream';
import pino from 'pino';
import { EMPTY_CHAIN, extendChain } from '../../src/domain/audit-chain';
import type { AuditRecord, UnsequencedEntry } from '../../src/domain/audit-event';
import { FixedClock } from '../../src/domain/clock';
import { CaError } from '../../src/domain/errors';
import { AuditTrail, decodeAuditCursor, encodeAuditCursor, type AuditStore } from '../../src/services/audit-trail';

/** An in-memory chain; `failing` makes appends fail like an unreachable database. */
function memoryStore(): AuditStore & { rows: AuditRecord[]; failing: boolean } {
  const store = {
    rows: [] as AuditRecord[],
    failing: false,
    async append(entry: UnsequencedEntry) {
      if (store.failing) throw new CaError('ledger-unavailable', 'the certificate ledger is unavailable (recording the audit trail)');
      const head = store.rows.length ? store.rows[store.rows.length - 1] : EMPTY_CHAIN;
      const [record] = extendChain(head, [entry]);
      store.rows.push(record);
      return record;
    },
    async list() {
      return [...store.rows].reverse();
    },
  };
  return store;
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

const flushLogs = () => new Promise((r) => setImmediate(r));

describe('the audit trail service', () => {
  const clock = new FixedClock(new Date('2026-06-01T12:00:00Z'));

  it('stamps the time, stores the record and writes it to the log with its seq and hash', async () => {
    const store = memoryStore();
    const { lines, logger } = capture();
    const trail = new AuditTrail(store, clock, logger);
    await trail.record({ action: 'key.create', outcome: 'success', actor: 'adm', account: 'acme', details: { appKey: 'k1' } });
    await flushLogs();
    expect(store.rows).toHaveLength(1);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'audit',
        audit: expect.objectContaining({ seq: 1, time: '2026-06-01T12:00:00.000Z', action: 'key.create', actor: 'adm', hash: store.rows[0].hash }),
      }),
    ]);
  });

  it('fails a durable record when it cannot be stored, and logs the whole event as an error', async () => {
    const store = memoryStore();
    store.failing = true;
    const { lines, logger } = capture();
    const trail = new AuditTrail(store, clock, logger);
    await expect(trail.record({ action: 'certificate.sign', outcome: 'success', serialNumber: 'AB01' })).rejects.toMatchObject({ kind: 'ledger-unavailable' });
    await flushLogs();
    expect(lines).toEqual([expect.objectContaining({ level: 50, audit: expect.objectContaining({ action: 'certificate.sign', serialNumber: 'AB01' }) })]);
  });

  it('records in the background without ever rejecting, logs failures, and drains before closing', async () => {
    const store = memoryStore();
    const { lines, logger } = capture();
    const trail = new AuditTrail(store, clock, logger);
    trail.recordInBackground({ action: 'auth.failure', outcome: 'failure', problem: 'unauthorized' });
    trail.recordInBackground(Promise.resolve(null)); // nothing to record
    trail.recordInBackground(Promise.reject(new Error('could not look the key up')));
    await trail.drain();
    expect(store.rows.map((r) => r.action)).toEqual(['auth.failure']);
    store.failing = true;
    trail.recordInBackground({ action: 'auth.failure', outcome: 'failure', problem: 'unauthorized', requestId: 'r-9' });
    await trail.drain();
    await flushLogs();
    expect(lines.filter((l) => l.level === 50).map((l) => (l.audit as { requestId?: string } | undefined)?.requestId ?? l.msg)).toEqual([
      'an audit event could not be put together',
      'r-9',
    ]);
  });

  it('pages with an opaque cursor and refuses one it did not make', async () => {
    expect(decodeAuditCursor(encodeAuditCursor(42))).toBe(42);
    for (const bad of ['', 'abc', Buffer.from('audit.0').toString('base64url'), Buffer.from('audit.-1').toString('base64url'), Buffer.from('audit.1e3').toString('base64url')]) {
      expect(() => decodeAuditCursor(bad)).toThrow(CaError);
    }
  });
});
