import { children, content, readTlv } from '../../src/domain/der';

/** Serial as hex without leading zeros, upper case: comparable between the ledger, answers and CRLs. */
export function normalSerial(hex: string): string {
  return hex.replace(/:/g, '').toUpperCase().replace(/^0+(?=.)/, '');
}

/** The CRL number and the revoked serials of a DER CRL, read with the project's DER reader (fast). */
export function readCrl(der: Uint8Array): { number: bigint; serials: string[] } {
  const outer = readTlv(der, 0);
  const tbs = children(der, outer)[0];
  let number = -1n;
  const serials: string[] = [];
  for (const part of children(der, tbs)) {
    if (part.tag === 0x30) {
      // revokedCertificates: SEQUENCE OF SEQUENCE { serial INTEGER, ... } (the other SEQUENCEs are
      // the signature algorithm and the issuer name, whose first child is not an INTEGER).
      const entries = children(der, part);
      if (entries.length > 0 && entries[0].tag === 0x30) {
        const first = children(der, entries[0])[0];
        if (first?.tag === 0x02) {
          for (const entry of entries) serials.push(normalSerial(content(der, children(der, entry)[0]).toString('hex')));
        }
      }
    } else if (part.tag === 0xa0) {
      const extensions = children(der, children(der, part)[0]);
      for (const ext of extensions) {
        const [oid, ...rest] = children(der, ext);
        if (content(der, oid).toString('hex') === '551d14') {
          const value = content(der, rest[rest.length - 1]);
          const integer = readTlv(value, 0);
          number = BigInt(`0x${content(value, integer).toString('hex') || '0'}`);
        }
      }
    }
  }
  return { number, serials };
}
