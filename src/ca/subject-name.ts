import { decodeDirectoryString } from '../domain/csr-reader';
import type { SubjectAttribute } from '../domain/csr-policy';
import { children, content, headerLength, objectIdentifier, readTlv, writeHeader } from '../domain/der';
import { OID } from '../domain/oids';

/**
 * The subject of an issued certificate is re-encoded from the parsed attribute values, never copied
 * from the CSR (RFC 5280 §4.1.2.4): one attribute per RDN, in the fixed order C, ST, L, O, OU, CN
 * (the X.500 order, most general first; shown as `CN=…, OU=…, O=…, L=…, ST=…, C=…`), every value a
 * UTF8String except C, a PrintableString (X.520 countryName).
 */
export type SubjectAttributes = Partial<Record<SubjectAttribute, string>>;

export const SUBJECT_ORDER: readonly SubjectAttribute[] = ['C', 'ST', 'L', 'O', 'OU', 'CN'];

const TYPES: Record<SubjectAttribute, string> = {
  C: OID.country,
  ST: OID.stateOrProvince,
  L: OID.locality,
  O: OID.organization,
  OU: OID.organizationalUnit,
  CN: OID.commonName,
};
const TYPE_DER = Object.fromEntries(SUBJECT_ORDER.map((a) => [a, objectIdentifier(TYPES[a])])) as Record<SubjectAttribute, Buffer>;
/** Every accepted attribute type is id-at (2.5.4.x): DER 06 03 55 04 x, told apart by its last byte. */
const BY_LAST_BYTE = new Map(SUBJECT_ORDER.map((a) => [TYPE_DER[a][4], a]));

/** The attribute whose OBJECT IDENTIFIER TLV starts at `at`, or undefined for any other type. */
export function subjectAttributeAt(der: Uint8Array, at: number): SubjectAttribute | undefined {
  return der[at] === 0x06 && der[at + 1] === 3 && der[at + 2] === 0x55 && der[at + 3] === 0x04 ? BY_LAST_BYTE.get(der[at + 4]) : undefined;
}

export const UTF8_STRING = 0x0c;
export const PRINTABLE_STRING = 0x13;

/** The string type each attribute is encoded with. */
export const subjectValueTag = (attribute: SubjectAttribute): number => (attribute === 'C' ? PRINTABLE_STRING : UTF8_STRING);

/** The DER Name of a certificate subject, from its attribute values (absent ones are left out). Written in one pass: it is on the signing hot path. */
export function encodeSubject(attributes: SubjectAttributes): Buffer {
  const values: Array<[SubjectAttribute, Buffer]> = [];
  let total = 0;
  for (const attribute of SUBJECT_ORDER) {
    const value = attributes[attribute];
    if (value === undefined) continue;
    const bytes = Buffer.from(value, attribute === 'C' ? 'latin1' : 'utf8');
    values.push([attribute, bytes]);
    total += rdnLength(bytes.length);
  }
  const out = Buffer.allocUnsafe(tlvLength(total));
  let p = writeHeader(out, 0, 0x30, total);
  for (const [attribute, bytes] of values) {
    const atv = 5 + tlvLength(bytes.length);
    p = writeHeader(out, p, 0x31, tlvLength(atv));
    p = writeHeader(out, p, 0x30, atv);
    p += TYPE_DER[attribute].copy(out, p);
    p = writeHeader(out, p, subjectValueTag(attribute), bytes.length);
    p += bytes.copy(out, p);
  }
  return out;
}

/** Bytes of a TLV whose content is `length` bytes. */
const tlvLength = (length: number): number => headerLength(length) + length;
/** Bytes of SET { SEQUENCE { OID (5 bytes), value } } for a value of `length` bytes. */
const rdnLength = (length: number): number => tlvLength(tlvLength(5 + tlvLength(length)));

/**
 * The attribute values of a subject Name the CSR policy has accepted (single-valued RDNs of CN, OU,
 * O, L, ST, C, each at most once, well-formed strings). Throws on anything else: it is never called
 * on an unchecked name.
 */
export function subjectAttributes(nameDer: Uint8Array): SubjectAttributes {
  const out: SubjectAttributes = {};
  for (const set of children(nameDer, readTlv(nameDer, 0))) {
    const atvs = children(nameDer, set);
    if (set.tag !== 0x31 || atvs.length !== 1) throw new Error('the subject is not a sequence of single-valued RDNs');
    const [type, value] = children(nameDer, atvs[0]);
    const attribute = type.end - type.start === 5 ? subjectAttributeAt(nameDer, type.start) : undefined;
    const text = value ? decodeDirectoryString(value.tag, content(nameDer, value)) : null;
    if (!attribute || text === null || out[attribute] !== undefined) throw new Error('the subject holds an attribute the policy does not accept');
    out[attribute] = text;
  }
  return out;
}
