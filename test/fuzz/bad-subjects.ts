import fc from 'fast-check';
import { objectIdentifier, sequence, tlv } from '../../src/domain/der';
import { OID } from '../../src/domain/oids';

/** Subject Names the CSR policy must refuse, whatever else the request gets right. */

interface Value {
  readonly tag: number;
  readonly value: Buffer;
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const atv = (oid: string, v: Value) => sequence(objectIdentifier(oid), tlv(v.tag, v.value));
const rdn = (...atvs: Buffer[]) => tlv(0x31, ...atvs);
const text = (s: string): Value => ({ tag: 0x0c, value: utf8(s) });

/** A value refused in any attribute: undecodable for its string type, control characters, empty, longer than any maximum. */
const badAnywhere: fc.Arbitrary<Value> = fc.oneof(
  // UTF8String that is not UTF-8: stray continuation, overlong NUL, encoded surrogate, 0xFF, truncated sequences
  fc.constantFrom('80', 'c080', 'eda080', 'ff', 'e282', 'f4908080', 'c0af2e2e').map((hex) => ({ tag: 0x0c, value: Buffer.concat([utf8('app'), Buffer.from(hex, 'hex')]) })),
  // C0/C1 controls, the replacement character, separators and bidi controls inside otherwise fine names
  fc.constantFrom('\u0000', '\n', '\r\n', '\u001b[31m', '\u007f', '\u0085', '\ufffd', '\u2028', '\u202e', '\u2066').map((c) => text(`erp${c}connector`)),
  // PrintableString with characters it does not have; IA5String with 8-bit bytes
  fc.constantFrom('erp_connector', 'a*b', 'x@y', '\u00e9').map((s) => ({ tag: 0x13, value: Buffer.from(s, 'latin1') })),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => ({ tag: 0x16, value: Buffer.concat([Buffer.from([0x80 | (b[0] ?? 0)]), b]) })),
  // BMPString garbage: odd length, lone surrogates, NUL, LF, a noncharacter
  fc.uint8Array({ maxLength: 62 }).map((b) => ({ tag: 0x1e, value: Buffer.concat([Buffer.from(b.length % 2 ? b.subarray(1) : b), Buffer.from([0x41])]) })),
  fc.constantFrom('d800', 'dfff0041', '0000', '000a', 'fffe').map((hex) => ({ tag: 0x1e, value: Buffer.from(`0061${hex}`, 'hex') })),
  // UniversalString: not a multiple of 4, beyond U+10FFFF, a surrogate code point
  fc.constantFrom('000000', '00110000', 'ffffffff', '0000d800').map((hex) => ({ tag: 0x1c, value: Buffer.from(hex, 'hex') })),
  // not directory strings at all (TeletexString, BIT/OCTET STRING, NULL, INTEGER, SEQUENCE)
  fc.constantFrom(0x14, 0x03, 0x04, 0x05, 0x02, 0x30).map((tag) => ({ tag, value: utf8('acme') })),
  fc.constant(text('')),
  fc.integer({ min: 129, max: 20_000 }).map((n) => ({ tag: 0x0c, value: Buffer.alloc(n, 0x61) })),
);

/** Values refused only where the policy is stricter: CN and OU are names, C is two letters. */
const badName: fc.Arbitrary<Value> = fc.oneof(
  badAnywhere,
  fc.constantFrom('erp connector', '-erp', '.erp', 'erp/..', '\u00e9rp', 'erp\u200b', 'a'.repeat(65)).map(text),
);
const badCountry: fc.Arbitrary<Value> = fc.oneof(badAnywhere, fc.constantFrom('BRA', 'B1', 'B', '\u00c9U', 'br ').map((s) => ({ tag: 0x13, value: Buffer.from(s, 'latin1') })));

const ATTRIBUTES = [
  { oid: OID.commonName, good: text('erp-connector'), bad: badName },
  { oid: OID.organizationalUnit, good: text('acme'), bad: badName },
  { oid: OID.organization, good: text('Acme Ltda'), bad: badAnywhere },
  { oid: OID.locality, good: text('Recife'), bad: badAnywhere },
  { oid: OID.stateOrProvince, good: text('PE'), bad: badAnywhere },
  { oid: OID.country, good: { tag: 0x13, value: utf8('BR') }, bad: badCountry },
];

/** A subject Name the policy must refuse: one bad value among good ones, or a bad shape. */
export const badSubject: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: ATTRIBUTES.length - 1 }).chain((i) =>
    ATTRIBUTES[i].bad.map((bad) => sequence(...ATTRIBUTES.map((a, j) => rdn(atv(a.oid, j === i ? bad : a.good))))),
  ) },
  // thousands of RDNs (a repeated CN); a repeated OU
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 3000 }).map((n) => {
    const commonNames = Array.from({ length: n }, (_, i) => rdn(atv(OID.commonName, text(`cn${i}`))));
    return sequence(rdn(atv(OID.organizationalUnit, text('acme'))), ...commonNames);
  }) },
  { weight: 1, arbitrary: fc.constantFrom(
    sequence(rdn(atv(OID.commonName, text('erp'))), rdn(atv(OID.organizationalUnit, text('acme'))), rdn(atv(OID.organizationalUnit, text('globex')))),
    // a multi-valued RDN; an attribute the policy does not take; an attribute type with a huge arc; no CN; no subject at all
    sequence(rdn(atv(OID.commonName, text('erp')), atv(OID.organizationalUnit, text('acme')))),
    sequence(rdn(atv(OID.commonName, text('erp'))), rdn(atv(OID.organizationalUnit, text('acme'))), rdn(atv('1.2.840.113549.1.9.1', { tag: 0x16, value: utf8('a@b') }))),
    sequence(rdn(atv(OID.commonName, text('erp'))), rdn(sequence(tlv(0x06, Buffer.from('2a86ffffffffffffffffff7f', 'hex')), tlv(0x0c, utf8('x'))))),
    sequence(rdn(atv(OID.organizationalUnit, text('acme')))),
    sequence(),
  ) },
);
