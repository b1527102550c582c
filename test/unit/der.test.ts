import { decodeObjectIdentifier, DerError, encodeLength, headerLength, objectIdentifier, readTlv, writeHeader } from '../../src/domain/der';
import { redactUrl } from '../../src/logger';

describe('the DER reader', () => {
  it('round-trips object identifiers', () => {
    for (const oid of ['2.5.4.3', '1.2.840.113549.1.1.11', '1.3.6.1.5.5.7.48.1.2', '2.999.3']) {
      expect(decodeObjectIdentifier(objectIdentifier(oid))).toBe(oid);
    }
  });

  it.each([
    ['a non-minimal arc (0x80 padding)', '06045504 8003'.replace(' ', '')],
    ['a truncated last arc', '0604550403 81'.replace(' ', '')],
    ['an empty identifier', '0600'],
  ])('refuses %s', (_name, hex) => {
    const buf = Buffer.from(hex, 'hex');
    const fixed = Buffer.concat([Buffer.from([0x06, buf.length - 2]), buf.subarray(2)]);
    expect(() => decodeObjectIdentifier(fixed)).toThrow(DerError);
  });

  it('refuses indefinite, non-minimal and overlong lengths and truncation', () => {
    expect(() => readTlv(Buffer.from('3080', 'hex'), 0)).toThrow(DerError);
    expect(() => readTlv(Buffer.from('30810100', 'hex'), 0)).toThrow(DerError);
    expect(() => readTlv(Buffer.from('3085ffffffffff', 'hex'), 0)).toThrow(DerError);
    expect(() => readTlv(Buffer.from('300500', 'hex'), 0)).toThrow(DerError);
  });
});

describe('log redaction', () => {
  it('keeps only scheme, host, port and database of a connection URL', () => {
    expect(redactUrl('postgresql://user:s3cret@db.example:5433/ledger?password=other&sslpassword=x')).toBe('postgresql://db.example:5433/ledger');
  });
});

describe('one-pass DER headers', () => {
  it.each([0, 1, 127, 128, 255, 256, 65535, 65536, 16_777_215, 16_777_216])('writes the same tag and length as tlv() for %d content bytes', (length) => {
    const expected = Buffer.concat([Buffer.from([0x30]), encodeLength(length)]);
    expect(headerLength(length)).toBe(expected.length);
    const out = Buffer.alloc(expected.length);
    expect(writeHeader(out, 0, 0x30, length)).toBe(expected.length);
    expect(out.equals(expected)).toBe(true);
  });
});
