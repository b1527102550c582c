import { createHash } from 'node:crypto';
import { ChainVerifier, EMPTY_CHAIN, GENESIS_HASH, auditHash, encodeAuditBody, encodeAuditEntry, extendChain, type ChainBreak } from '../../src/domain/audit-chain';
import { cleanAuditText, prepareAuditEntry, type AuditEntry, type AuditEvent, type AuditRecord } from '../../src/domain/audit-event';
import { verifyAuditChain } from '../../src/services/audit-verification';

const T0 = new Date('2026-06-01T12:00:00.000Z');

const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  action: 'certificate.sign',
  outcome: 'success',
  actor: 'mtls-key-1',
  account: 'acme',
  serialNumber: '7B8AA2645EED7334E4BFDDB064591A6F',
  requestId: 'req-1',
  clientIp: '203.0.113.7',
  details: { commonName: 'erp' },
  ...over,
});

/** A chain of n records with varied fields (failures, nulls, details). */
function chain(n: number): AuditRecord[] {
  const entries = Array.from({ length: n }, (_, i) =>
    prepareAuditEntry(
      i % 3 === 2
        ? event({ action: 'auth.failure', outcome: 'failure', problem: 'unauthorized', actor: null, serialNumber: null, details: { attempted: 'certificate.sign' } })
        : event({ requestId: `req-${i}`, details: i % 2 ? null : { commonName: `cn-${i}`, reason: 'keyCompromise' } }),
      new Date(T0.getTime() + i * 1000),
    ),
  );
  return extendChain(EMPTY_CHAIN, entries);
}

function firstBreak(records: AuditRecord[]): ChainBreak | null {
  const verifier = new ChainVerifier();
  for (const r of records) {
    const broken = verifier.next(r);
    if (broken) return broken;
  }
  return null;
}

describe('the audit hash chain', () => {
  it('numbers records from 1, starts from the genesis hash and links each to the one before', () => {
    const records = chain(5);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[0].prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < records.length; i++) expect(records[i].prevHash).toBe(records[i - 1].hash);
    expect(new Set(records.map((r) => r.hash)).size).toBe(5);
    expect(firstBreak(records)).toBeNull();
  });

  it('continues an existing chain from its head', () => {
    const all = chain(4);
    const first = all.slice(0, 2);
    const rest = extendChain({ seq: 2, hash: first[1].hash }, all.slice(2).map(({ seq: _s, prevHash: _p, hash: _h, ...entry }) => entry));
    expect(rest).toEqual(all.slice(2));
  });

  it('hashes exactly the documented bytes: SHA-256(prevHash bytes ‖ length-prefixed fields)', () => {
    const entry: AuditEntry = {
      seq: 7,
      time: T0,
      action: 'key.disable',
      outcome: 'failure',
      problem: 'not-found',
      actor: 'adm',
      account: null,
      serialNumber: null,
      requestId: 'r',
      clientIp: '::1',
      details: { b: '2', a: '1' },
    };
    const present = (s: string) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return Buffer.concat([Buffer.of(1), len, b]);
    };
    const absent = Buffer.of(0);
    const expected = Buffer.concat([
      present('mtls-ca audit v1'),
      present('7'),
      present('2026-06-01T12:00:00.000Z'),
      present('key.disable'),
      present('failure'),
      present('not-found'),
      present('adm'),
      absent,
      absent,
      present('r'),
      present('::1'),
      Buffer.of(1, 0, 0, 0, 2),
      present('a'),
      present('1'),
      present('b'),
      present('2'),
    ]);
    expect(encodeAuditEntry(entry).equals(expected)).toBe(true);
    const prev = 'ab'.repeat(32);
    expect(auditHash(prev, entry)).toBe(createHash('sha256').update(Buffer.from(prev, 'hex')).update(expected).digest('hex'));
  });

  it('encodes unambiguously: moved boundaries, null versus empty and detail order', () => {
    const base = prepareAuditEntry(event(), T0);
    const enc = (over: Partial<AuditEntry>) => encodeAuditEntry({ ...base, seq: 1, ...over }).toString('hex');
    expect(enc({ actor: 'ab', account: 'c' })).not.toBe(enc({ actor: 'a', account: 'bc' }));
    expect(enc({ actor: null })).not.toBe(enc({ actor: '' }));
    expect(enc({ details: null })).not.toBe(enc({ details: {} }));
    expect(enc({ details: { a: 'b=c' } })).not.toBe(enc({ details: { 'a=b': 'c' } }));
    expect(enc({ details: { x: '1', y: '2' } })).toBe(enc({ details: { y: '2', x: '1' } }));
    expect(enc({ requestId: 'é' })).not.toBe(enc({ requestId: 'e\u0301' }));
  });

  it('orders detail keys by their UTF-8 bytes (code points), not by UTF-16 units', () => {
    const body = encodeAuditBody({ ...prepareAuditEntry(event(), T0), details: { '😀': 'b', '\uFF61': 'a' } });
    // U+FF61 (EF BD A1) sorts before U+1F600 (F0 9F 98 80), though its UTF-16 unit 0xFF61 is above 0xD83D.
    expect(body.indexOf(Buffer.from('\uFF61'))).toBeLessThan(body.indexOf(Buffer.from('😀')));
  });

  const fields: Array<[keyof AuditEntry, unknown]> = [
    ['time', new Date(T0.getTime() + 1)],
    ['action', 'certificate.revoke'],
    ['outcome', 'failure'],
    ['problem', 'forbidden'],
    ['actor', 'mtls-key-2'],
    ['account', 'globex'],
    ['serialNumber', '11223344556677889900AABBCCDDEEFF'],
    ['requestId', 'req-forged'],
    ['clientIp', '198.51.100.1'],
    ['details', { commonName: 'other' }],
    ['details', null],
  ];
  it.each(fields)('detects a changed %s at the changed record', (field, value) => {
    const records = chain(6);
    expect(records[4][field]).not.toEqual(value);
    records[4] = { ...records[4], [field]: value };
    expect(firstBreak(records)).toEqual({ seq: 5, field: 'hash', expected: expect.stringMatching(/^[0-9a-f]{64}$/), found: chain(6)[4].hash });
  });

  it('detects a changed record whose hash was recomputed, at the next record', () => {
    const records = chain(6);
    const forged = { ...records[2], account: 'globex' };
    records[2] = { ...forged, hash: auditHash(forged.prevHash, forged) };
    expect(firstBreak(records)).toEqual({ seq: 4, field: 'prevHash', expected: records[2].hash, found: records[3].prevHash });
  });

  it('detects a deleted record (middle and first)', () => {
    const records = chain(6);
    expect(firstBreak([...records.slice(0, 2), ...records.slice(3)])).toMatchObject({ seq: 4, field: 'seq', expected: '3', found: '4' });
    expect(firstBreak(records.slice(1))).toMatchObject({ seq: 2, field: 'seq', expected: '1', found: '2' });
  });

  it('detects a deletion even when the later records are renumbered', () => {
    const records = chain(6);
    const renumbered = [...records.slice(0, 2), ...records.slice(3).map((r) => ({ ...r, seq: r.seq - 1 }))];
    expect(firstBreak(renumbered)).toMatchObject({ seq: 3, field: 'prevHash' });
  });

  it('detects reordered records, with or without swapped numbers', () => {
    const records = chain(6);
    expect(firstBreak([records[0], records[2], records[1], ...records.slice(3)])).toMatchObject({ seq: 3, field: 'seq', expected: '2' });
    const swapped = [records[0], { ...records[2], seq: 2 }, { ...records[1], seq: 3 }, ...records.slice(3)];
    expect(firstBreak(swapped)).toMatchObject({ seq: 2, field: 'prevHash' });
  });

  it('detects an inserted record', () => {
    const records = chain(6);
    const extra = extendChain({ seq: 3, hash: records[2].hash }, [prepareAuditEntry(event({ account: 'forged' }), T0)])[0];
    const withInsert = [...records.slice(0, 3), extra, ...records.slice(3).map((r) => ({ ...r, seq: r.seq + 1 }))];
    expect(firstBreak(withInsert)).toMatchObject({ seq: 5, field: 'prevHash', expected: extra.hash, found: records[2].hash });
  });

  it('cannot see records cut off the end: that is what the reported head is for', () => {
    const records = chain(6);
    expect(firstBreak(records.slice(0, 4))).toBeNull();
    const verifier = new ChainVerifier();
    records.slice(0, 4).forEach((r) => verifier.next(r));
    expect(verifier.verifiedHead).toEqual({ seq: 4, hash: records[3].hash });
    expect(verifier.verifiedHead.hash).not.toBe(records[5].hash);
  });

  it('walks a chain page by page and reports the first break with the count before it', async () => {
    const records = chain(25);
    const reader = (rows: AuditRecord[]) => ({
      chainPage: async (after: number, limit: number) => rows.filter((r) => r.seq > after).slice(0, limit),
    });
    expect(await verifyAuditChain(reader(records), 7)).toEqual({ intact: true, count: 25, head: { seq: 25, hash: records[24].hash } });
    expect(await verifyAuditChain(reader([]), 7)).toEqual({ intact: true, count: 0, head: EMPTY_CHAIN });
    const tampered = records.map((r) => (r.seq === 15 ? { ...r, clientIp: '10.0.0.1' } : r));
    expect(await verifyAuditChain(reader(tampered), 7)).toMatchObject({ intact: false, count: 14, break: { seq: 15, field: 'hash' } });
  });
});

describe('audit text as stored', () => {
  it('replaces NUL and lone surrogates, which PostgreSQL cannot store, and keeps valid pairs', () => {
    expect(cleanAuditText('a\u0000b', 10)).toBe('a\uFFFDb');
    expect(cleanAuditText('x\uD800y\uDC00', 10)).toBe('x\uFFFDy\uFFFD');
    expect(cleanAuditText('ok 😀', 10)).toBe('ok 😀');
  });

  it('cuts at a number of code points, never inside a surrogate pair', () => {
    expect(cleanAuditText('😀😀😀', 2)).toBe('😀😀');
    expect(cleanAuditText('a'.repeat(300), 256)).toHaveLength(256);
  });

  it('prepares every field: a problem only on failures, bounded details', () => {
    const ok = prepareAuditEntry(event({ problem: 'ignored' }), T0);
    expect(ok.problem).toBeNull();
    const failed = prepareAuditEntry({ action: 'auth.failure', outcome: 'failure' }, T0);
    expect(failed).toEqual({
      time: T0,
      action: 'auth.failure',
      outcome: 'failure',
      problem: 'unknown',
      actor: null,
      account: null,
      serialNumber: null,
      requestId: null,
      clientIp: null,
      details: null,
    });
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'.repeat(1000)]));
    const bounded = prepareAuditEntry(event({ details: many }), T0).details!;
    expect(Object.keys(bounded)).toHaveLength(16);
    expect(bounded.k0).toHaveLength(512);
  });
});
