import { decodeDirectoryString } from '../domain/csr-reader';
import { children, content, decodeObjectIdentifier, readTlv, slice, type Tlv } from '../domain/der';
import { OID } from '../domain/oids';

/**
 * A certificate's subject as the gateway passes it on: read from the DER (never from a printed form)
 * and written as an RFC 4514 string that is always a valid HTTP header value (printable ASCII only).
 */
export interface NameAttribute {
  readonly type: string;
  /** The decoded string, or null when the value is not a string type we read. */
  readonly text: string | null;
  /** The value's whole DER TLV (for the `#hex` form). */
  readonly der: Buffer;
}

/** RFC 4514, section 3: the short names; any other type is written as its dotted OID. */
const SHORT_NAMES: Record<string, string> = {
  [OID.commonName]: 'CN',
  [OID.locality]: 'L',
  [OID.stateOrProvince]: 'ST',
  [OID.organization]: 'O',
  [OID.organizationalUnit]: 'OU',
  [OID.country]: 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

/** The subject Name of a DER certificate: its RDNs in certificate order. */
export function certificateSubject(certDer: Uint8Array): NameAttribute[][] {
  const buf = Buffer.from(certDer);
  const [tbs] = children(buf, readTlv(buf, 0));
  const fields = children(buf, tbs);
  const subject: Tlv = fields[fields[0].tag === 0xa0 ? 5 : 4];
  return children(buf, subject).map((rdn) =>
    children(buf, rdn).map((atv) => {
      const [type, value] = children(buf, atv);
      return { type: decodeObjectIdentifier(slice(buf, type)), text: decodeDirectoryString(value.tag, content(buf, value)), der: slice(buf, value) };
    }),
  );
}

/**
 * An attribute value escaped per RFC 4514 (`\` before `"+,;<>\`, a leading `#` or space, a trailing
 * space) and, beyond it, every character outside printable ASCII as `\XX` per UTF-8 byte
 * (`Łódź` → `\C5\81\C3\B3d\C5\BA`; a NUL or a line break too).
 */
export function escapeDnValue(text: string): string {
  const chars = [...text];
  return chars
    .map((ch, i) => {
      const code = ch.codePointAt(0)!;
      if (code < 0x20 || code > 0x7e) return [...Buffer.from(ch, 'utf8')].map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
      if ('"+,;<>\\'.includes(ch)) return `\\${ch}`;
      if ((i === 0 && (ch === '#' || ch === ' ')) || (i === chars.length - 1 && ch === ' ')) return `\\${ch}`;
      return ch;
    })
    .join('');
}

/** RFC 4514: the last RDN first, `,` between RDNs, `+` inside a multi-valued one. */
export function rfc4514(name: readonly (readonly NameAttribute[])[]): string {
  return [...name]
    .reverse()
    .map((rdn) =>
      rdn
        .map((a) => {
          const short = SHORT_NAMES[a.type];
          return short && a.text !== null ? `${short}=${escapeDnValue(a.text)}` : `${a.type}=#${a.der.toString('hex')}`;
        })
        .join('+'),
    )
    .join(',');
}

/** The account: the value of the one OU; none when there is no OU, several, or one that is not a string. */
export function accountOf(name: readonly (readonly NameAttribute[])[]): string | undefined {
  const ous = name.flat().filter((a) => a.type === OID.organizationalUnit);
  return ous.length === 1 && ous[0].text !== null && ous[0].text !== '' ? ous[0].text : undefined;
}
