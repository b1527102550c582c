import fc from 'fast-check';
import { encodePem } from '../../src/domain/pem';
import { ACCEPTABLE_CSRS, REFUSED_CSRS } from './csr-fixtures';
import { csrShaped, derGarbage } from './der-garbage';

/**
 * Certificate-request bodies that must be refused: real openssl CSRs broken in the ways clients and
 * attackers break them. Each body is either DER or text (PEM-ish), which decides the Content-Type.
 *
 * Which fixtures each mutation may start from matters: PEM tolerates whitespace and text after the
 * END line, so a CSR the service would sign is only ever sent with a mutation that breaks its bytes
 * (bit flips in the signed DER, truncation, doubling, wrong armor). Encoding and whitespace abuse is
 * applied to CSRs the policy refuses anyway.
 */
export interface CsrBody {
  readonly family: string;
  readonly body: Buffer;
  readonly der: boolean;
}

const pem = (der: Uint8Array, label = 'CERTIFICATE REQUEST') => encodePem(label, der);
const acceptable = fc.constantFrom(...ACCEPTABLE_CSRS);
const refused = fc.constantFrom(...REFUSED_CSRS);

/** 1 to 8 distinct bits of the DER flipped (distinct: two flips of one bit would restore the CSR). */
const bitFlips: fc.Arbitrary<CsrBody> = fc
  .record({ csr: acceptable, bits: fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 8 }), asDer: fc.boolean() })
  .map(({ csr, bits, asDer }) => {
    const der = Buffer.from(csr.der);
    const seen = new Set<number>();
    for (const b of bits) {
      const bit = b % (der.length * 8);
      if (seen.has(bit)) continue;
      seen.add(bit);
      der[bit >> 3] ^= 0x80 >> (bit & 7);
    }
    return { family: 'csr:bit-flips', body: asDer ? der : Buffer.from(pem(der)), der: asDer };
  });

const truncated: fc.Arbitrary<CsrBody> = fc.record({ csr: acceptable, cut: fc.nat(), asDer: fc.boolean() }).map(({ csr, cut, asDer }) => {
  if (asDer) return { family: 'csr:truncated', body: csr.der.subarray(0, 1 + (cut % (csr.der.length - 1))), der: true };
  const text = Buffer.from(csr.pem);
  // Cut inside the PEM, or cut the DER and armor what is left.
  return cut % 2
    ? { family: 'csr:truncated', body: text.subarray(0, cut % (text.length - 1)), der: false }
    : { family: 'csr:truncated', body: Buffer.from(pem(csr.der.subarray(0, 1 + (cut % (csr.der.length - 1))))), der: false };
});

const doubled: fc.Arbitrary<CsrBody> = fc.record({ csr: acceptable, how: fc.constantFrom('pem-pem', 'der-der', 'pem-in-one-block', 'pem-cert') }).map(({ csr, how }) => {
  switch (how) {
    case 'pem-pem':
      return { family: 'csr:doubled', body: Buffer.from(csr.pem + csr.pem), der: false };
    case 'der-der':
      return { family: 'csr:doubled', body: Buffer.concat([csr.der, csr.der]), der: true };
    case 'pem-in-one-block':
      return { family: 'csr:doubled', body: Buffer.from(pem(Buffer.concat([csr.der, csr.der]))), der: false };
    default:
      return { family: 'csr:multiple-blocks', body: Buffer.from(csr.pem + pem(csr.der, 'CERTIFICATE')), der: false };
  }
});

/** Valid DER under the wrong armor, or broken armor. */
const badArmor: fc.Arbitrary<CsrBody> = fc
  .record({
    csr: acceptable,
    how: fc.constantFrom('CERTIFICATE', 'PRIVATE KEY', 'X509 CRL', 'certificate request', 'mismatched-end', 'no-end', 'bad-base64', 'bad-padding', 'empty', 'nested', 'stray-end'),
  })
  .map(({ csr, how }) => {
    const b64 = csr.der.toString('base64');
    const text = (() => {
      switch (how) {
        case 'mismatched-end':
          return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE-----\n`;
        case 'no-end':
          return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n`;
        case 'bad-base64':
          return `-----BEGIN CERTIFICATE REQUEST-----\n${b64.slice(0, 20)}*!$${b64.slice(20)}\n-----END CERTIFICATE REQUEST-----\n`;
        case 'bad-padding':
          return `-----BEGIN CERTIFICATE REQUEST-----\n${b64.replace(/=*$/, '')}A=A=\n-----END CERTIFICATE REQUEST-----\n`;
        case 'empty':
          return '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n';
        case 'nested':
          return `-----BEGIN CERTIFICATE REQUEST-----\n${csr.pem}-----END CERTIFICATE REQUEST-----\n`;
        case 'stray-end':
          return `${csr.pem}-----END CERTIFICATE REQUEST-----\n`;
        default:
          return pem(csr.der, how);
      }
    })();
    return { family: 'csr:bad-armor', body: Buffer.from(text, 'latin1'), der: false };
  });

/** Correct armor around garbage: DER-shaped junk and random bytes. */
const armoredGarbage: fc.Arbitrary<CsrBody> = fc
  .oneof(derGarbage(12_000).map((g) => g.der), fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => Buffer.from(b)))
  .map((der) => ({ family: 'csr:armored-garbage', body: Buffer.from(pem(der)), der: false }));

/** Whitespace, line-ending and encoding abuse around CSRs the policy refuses. */
const textAbuse: fc.Arbitrary<CsrBody> = fc
  .record({
    csr: refused,
    how: fc.constantFrom('crlf', 'cr', 'one-char-lines', 'tabs', 'indent', 'trailing-text', 'leading-blank-lines', 'nul', 'bom', 'utf16', 'utf16-bom', 'long-lines'),
  })
  .map(({ csr, how }) => {
    const p = csr.pem;
    const body = (() => {
      switch (how) {
        case 'crlf':
          return Buffer.from(p.replace(/\n/g, '\r\n'));
        case 'cr':
          return Buffer.from(p.replace(/\n/g, '\r'));
        case 'one-char-lines': {
          const b64 = csr.der.toString('base64').split('').join('\n');
          return Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`);
        }
        case 'tabs':
          return Buffer.from(p.replace(/\n/g, '\t\n\t'));
        case 'indent':
          return Buffer.from(p.replace(/^/gm, '    '));
        case 'trailing-text':
          return Buffer.from(`${p}\nsome text after the block \u0000\u00ff`, 'latin1');
        case 'leading-blank-lines':
          return Buffer.from(`\n\n \r\n${p}`);
        case 'nul':
          return Buffer.from(p.replace('\n', '\n\u0000'), 'latin1');
        case 'bom':
          return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(p)]);
        case 'utf16':
          return Buffer.from(p, 'utf16le');
        case 'utf16-bom':
          return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(p, 'utf16le')]);
        default:
          return Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${csr.der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
      }
    })();
    return { family: 'csr:text-abuse', body, der: false };
  });

/** The refused fixtures as they are, PEM or DER (each must get its policy refusal). */
const refusedAsIs: fc.Arbitrary<CsrBody> = fc.record({ csr: refused, asDer: fc.boolean() }).map(({ csr, asDer }) => ({
  family: `csr:refused:${csr.name}`,
  body: asDer ? csr.der : Buffer.from(csr.pem),
  der: asDer,
}));

/** Random bytes, and random printable text. */
const randomBytes: fc.Arbitrary<CsrBody> = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 4000 }).map((b) => ({ family: 'random-bytes', body: Buffer.from(b), der: true })),
  fc.string({ unit: 'binary', maxLength: 2000 }).map((s) => ({ family: 'random-text', body: Buffer.from(s), der: false })),
  fc.uint8Array({ minLength: 0, maxLength: 4000 }).map((b) => ({ family: 'random-bytes-0x30', body: Buffer.concat([Buffer.from([0x30]), b]), der: true })),
);

/** Bodies over 1 MiB: a real CSR padded with whitespace, or plain filler. */
export const oversized: fc.Arbitrary<CsrBody> = fc
  .record({ csr: acceptable, extra: fc.integer({ min: 1, max: 64 * 1024 }), filler: fc.constantFrom(0x20, 0x0a, 0x41, 0x00) })
  .map(({ csr, extra, filler }) => ({
    family: 'oversized',
    body: Buffer.concat([Buffer.from(csr.pem), Buffer.alloc(1024 * 1024 + extra, filler)]),
    der: false,
  }));

export const brokenCsrBody: fc.Arbitrary<CsrBody> = fc.oneof(
  { weight: 2, arbitrary: bitFlips },
  { weight: 1, arbitrary: truncated },
  { weight: 1, arbitrary: doubled },
  { weight: 1, arbitrary: badArmor },
  { weight: 1, arbitrary: armoredGarbage },
  { weight: 1, arbitrary: textAbuse },
  { weight: 2, arbitrary: refusedAsIs },
  { weight: 1, arbitrary: randomBytes },
  { weight: 1, arbitrary: derGarbage(20_000).map((g) => ({ family: g.family, body: g.der, der: true })) },
  { weight: 1, arbitrary: derGarbage(12_000).map((g) => ({ family: `${g.family}:pem`, body: Buffer.from(pem(g.der)), der: false })) },
  { weight: 3, arbitrary: fc.record({ csr: csrShaped, asDer: fc.boolean() }).map(({ csr, asDer }) => ({ family: csr.family, body: asDer ? csr.der : Buffer.from(pem(csr.der)), der: asDer })) },
);
