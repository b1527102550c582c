import { CaError } from '../../src/domain/errors';
import { normalizeSerialNumber, pooledRandomSerialSource, randomSerialSource, serialToHex } from '../../src/domain/serial-number';

describe('serial numbers', () => {
  it('are 16 random bytes, positive, with no leading zero byte', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const s = randomSerialSource.next();
      expect(s.length).toBe(16);
      expect(s[0]).toBeGreaterThan(0);
      expect(s[0]).toBeLessThan(0x80);
      seen.add(serialToHex(s));
    }
    expect(seen.size).toBe(2000);
  });

  it('drawn from a pool, are each a copy of their own: changing one changes no other, across refills', () => {
    const source = pooledRandomSerialSource();
    const drawn = Array.from({ length: 700 }, () => source.next()); // past two refills of 256
    const before = drawn.map((s) => serialToHex(s));
    drawn[0].fill(0xff);
    drawn[300].fill(0xee);
    expect(drawn.map((s) => serialToHex(s)).filter((hex, i) => hex !== before[i])).toHaveLength(2);
    expect(new Set(before).size).toBe(700);
    // Bytes are spread over all values (a stuck pool or a zeroed refill would show as a narrow range).
    const counts = new Array(256).fill(0);
    for (const s of drawn) for (const b of s.subarray(1)) counts[b]++;
    expect(counts.filter((c) => c === 0).length).toBeLessThan(5);
  });

  it.each([
    ['4D0A0A39360B2E12', '4D0A0A39360B2E12'],
    ['4d:0a:0a:39:36:0b:2e:12', '4D0A0A39360B2E12'],
    ['004d0a0a39360b2e12', '4D0A0A39360B2E12'],
    ['00:4D:0A:0A:39:36:0B:2E:12', '4D0A0A39360B2E12'],
    ['d:a', '0D0A'],
    ['abc', '0ABC'],
    ['8F01', '008F01'],
    ['  7b:8a  ', '7B8A'],
  ])('normalises %s to %s', (input, canonical) => {
    expect(normalizeSerialNumber(input)).toBe(canonical);
  });

  it.each(['', 'xyz', '12:', ':12', '1::2', '../etc/passwd', '0', '00:00', 'A'.repeat(41), '123:45'])('rejects %j', (input) => {
    expect(() => normalizeSerialNumber(input)).toThrow(CaError);
  });
});
