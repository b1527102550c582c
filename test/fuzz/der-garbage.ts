import fc from 'fast-check';
import { bitString, encodeLength, NULL, objectIdentifier, sequence, smallInteger, tlv } from '../../src/domain/der';
import { OID } from '../../src/domain/oids';
import { badSubject } from './bad-subjects';
import { ACCEPTABLE_CSRS } from './csr-fixtures';
import { signedCsr } from './signed-csr';

/**
 * DER-shaped garbage with real structure, built with the project's own DER writer: what a hostile or
 * broken client could send where a CSR (or an OCSP request) is expected.
 */

/** `depth` constructed TLVs one inside the other around `inner`, built in one pass (no quadratic copying). */
export function nested(depth: number, inner: Buffer, tag = 0x30): Buffer {
  const headers: Buffer[] = [];
  let length = inner.length;
  for (let i = 0; i < depth; i++) {
    const header = Buffer.concat([Buffer.from([tag]), encodeLength(length)]);
    headers.push(header);
    length += header.length;
  }
  return Buffer.concat([...headers.reverse(), inner]);
}

/** BER indefinite-length nesting (`30 80 … 00 00`), which DER forbids. */
export function indefiniteNested(depth: number, inner: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(depth * 2, Buffer.from([0x30, 0x80])), inner, Buffer.alloc(depth * 2, 0)]);
}

/** A TLV header claiming a length the bytes after it cannot have (2^31, 2^32-1, 8-byte and 127-byte lengths). */
export const absurdLength: fc.Arbitrary<Buffer> = fc
  .record({
    tag: fc.constantFrom(0x30, 0x02, 0x04, 0x03, 0xa0, 0x31),
    length: fc.constantFrom(
      [0x84, 0x80, 0x00, 0x00, 0x00],
      [0x84, 0xff, 0xff, 0xff, 0xff],
      [0x84, 0x7f, 0xff, 0xff, 0xff],
      [0x88, 0, 0, 0, 0x80, 0, 0, 0, 0],
      [0xff, ...new Array<number>(127).fill(0xff)],
      [0x82, 0x00, 0x05], // non-minimal
      [0x81, 0x05], // non-minimal
      [0x80], // indefinite
    ),
    rest: fc.uint8Array({ maxLength: 64 }),
  })
  .map(({ tag, length, rest }) => Buffer.concat([Buffer.from([tag, ...length]), rest]));

/** Multi-byte tags, which the DER reader refuses. */
export const highTagNumber: fc.Arbitrary<Buffer> = fc.uint8Array({ minLength: 1, maxLength: 32 }).map((rest) => Buffer.concat([Buffer.from([0x3f, 0x81, 0x00, 0x02]), rest]));

/** An INTEGER of `size` bytes (up to 100k: bigger than the CSR limit on purpose). */
export const hugeInteger: fc.Arbitrary<Buffer> = fc
  .record({ size: fc.oneof(fc.integer({ min: 1000, max: 60_000 }), fc.constant(100_000)), fill: fc.integer({ min: 0, max: 255 }) })
  .map(({ size, fill }) => tlv(0x02, Buffer.alloc(size, fill)));

// ---- CertificationRequest-shaped ----

const utf8 = (s: string) => Buffer.from(s, 'utf8');

/** `count` attributes in the [0] field: extensionRequests with many extensions, or many small attributes. */
function attributes(count: number, extensionRequest: boolean): Buffer {
  if (extensionRequest) {
    const extension = (i: number) => sequence(objectIdentifier(`1.3.6.1.4.1.99999.${i}`), tlv(0x04, sequence(smallInteger(i))));
    const extensions = sequence(...Array.from({ length: count }, (_, i) => extension(i)));
    return tlv(0xa0, sequence(objectIdentifier('1.2.840.113549.1.9.14'), tlv(0x31, extensions)));
  }
  return tlv(0xa0, ...Array.from({ length: count }, (_, i) => sequence(objectIdentifier('1.2.840.113549.1.9.7'), tlv(0x31, tlv(0x0c, utf8(`pw${i}`))))));
}

const SIGNATURE_ALGORITHMS = [OID.ecdsaWithSHA256, OID.sha256WithRSA, OID.sha512WithRSA, OID.ecdsaWithSHA384];

/** Public keys that must not pass: oversized RSA numbers, odd curves, bad points, unknown algorithms. */
const badPublicKey: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ n: fc.integer({ min: 1100, max: 20_000 }), e: fc.constantFrom('010001', '03', '00', 'ff', '0000010001', '01'.repeat(40)) }).map(({ n, e }) =>
    sequence(sequence(objectIdentifier(OID.rsaEncryption), NULL), bitString(sequence(tlv(0x02, Buffer.concat([Buffer.from([0x00, 0xc3]), Buffer.alloc(n, 0xa5)])), tlv(0x02, Buffer.from(e, 'hex'))))),
  ),
  fc.record({ curve: fc.constantFrom(OID.p256, OID.p384, '1.3.132.0.10', '1.2.3'), point: fc.uint8Array({ maxLength: 200 }) }).map(({ curve, point }) =>
    sequence(sequence(objectIdentifier(OID.ecPublicKey), objectIdentifier(curve)), bitString(Buffer.concat([Buffer.from([0x04]), point]))),
  ),
  fc.uint8Array({ maxLength: 100 }).map((params) => sequence(sequence(objectIdentifier('1.2.3.4.5'), tlv(0x04, params)), bitString(params))),
);

const attributesArb = fc.record({ count: fc.integer({ min: 100, max: 3000 }), ext: fc.boolean() }).map(({ count, ext }) => attributes(count, ext));

/**
 * A CertificationRequest with real structure and one thing wrong: a bad subject, thousands of
 * attributes or extensions, a huge version INTEGER, a bad key. The signature is random bytes, so
 * even an otherwise perfect request fails proof of possession.
 */
const unsignedCsr: fc.Arbitrary<{ family: string; der: Buffer }> = fc
  .record({
    fixture: fc.constantFrom(...ACCEPTABLE_CSRS),
    defect: fc.oneof(
      badSubject.map((subject) => ({ family: 'csr:bad-subject', subject })),
      attributesArb.map((attributes) => ({ family: 'csr:many-attributes', attributes })),
      hugeInteger.map((version) => ({ family: 'csr:huge-integer', version })),
      fc.constantFrom(1, 2, 255).map((v) => ({ family: 'csr:bad-version', version: smallInteger(v) })),
      badPublicKey.map((spki) => ({ family: 'csr:bad-key', spki })),
      fc.constant({ family: 'csr:valid-parts-bad-signature' }),
    ),
    signatureAlgorithm: fc.constantFrom(...SIGNATURE_ALGORITHMS),
    signature: fc.uint8Array({ minLength: 0, maxLength: 600 }),
  })
  .map(({ fixture, defect, signatureAlgorithm, signature }) => {
    const d = defect as { family: string; subject?: Buffer; attributes?: Buffer; version?: Buffer; spki?: Buffer };
    const info = sequence(d.version ?? smallInteger(0), d.subject ?? fixture.parts.subjectDer, d.spki ?? fixture.parts.spkiDer, d.attributes ?? tlv(0xa0));
    // Random signature bytes: never the key's signature over this info (2^-256 for ECDSA, less for RSA).
    return { family: d.family, der: sequence(info, sequence(objectIdentifier(signatureAlgorithm)), bitString(signature)) };
  });

/**
 * The same with a genuine signature (test key): a bad subject, maybe with thousands of attributes, or
 * a good subject with a version other than 0. Only the policy stands between these and a certificate.
 */
const signedBadCsr: fc.Arbitrary<{ family: string; der: Buffer }> = fc.oneof(
  fc.record({ subject: badSubject, attributes: fc.option(attributesArb, { nil: undefined }) }).map(({ subject, attributes }) => ({
    family: 'csr:signed-bad-subject',
    der: signedCsr({ subject, attributes }),
  })),
  fc.oneof(fc.constantFrom(1, 2, 3, 255).map(smallInteger), fc.constant(tlv(0x02, Buffer.from([0x00, 0x00]))), fc.constant(tlv(0x02, Buffer.from([0xff])))).map((version) => ({
    family: 'csr:signed-bad-version',
    der: signedCsr({ subject: ACCEPTABLE_CSRS[0].parts.subjectDer, version }),
  })),
);

export const csrShaped: fc.Arbitrary<{ family: string; der: Buffer }> = fc.oneof(unsignedCsr, signedBadCsr);

/**
 * Any DER-ish garbage: nesting thousands deep (up to `maxDepth`: pick it around the endpoint's body
 * limit, a little over it on purpose), absurd lengths, huge integers, CSR-shaped requests.
 */
export function derGarbage(maxDepth: number): fc.Arbitrary<{ family: string; der: Buffer }> {
  return fc.oneof(
    fc.integer({ min: 1000, max: maxDepth }).map((depth) => ({ family: 'der:deep-nesting', der: nested(depth, Buffer.from([0x05, 0x00])) })),
    fc.integer({ min: 100, max: maxDepth }).map((depth) => ({ family: 'der:indefinite-length', der: indefiniteNested(depth, Buffer.from([0x02, 0x01, 0x00])) })),
    absurdLength.map((der) => ({ family: 'der:absurd-length', der })),
    highTagNumber.map((der) => ({ family: 'der:high-tag', der })),
    hugeInteger.map((der) => ({ family: 'der:huge-integer', der: sequence(der) })),
    csrShaped,
  );
}
