import { decodeDirectoryString } from '../domain/csr-reader';
import type { SubjectAttribute } from '../domain/csr-policy';
import { children, content, decodeObjectIdentifier, objectIdentifier, readTlv, sequence, slice, tlv } from '../domain/der';
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
const BY_OID = new Map(Object.entries(TYPES).map(([short, oid]) => [oid, short as SubjectAttribute]));
const TYPE_DER = Object.fromEntries(SUBJECT_ORDER.map((a) => [a, objectIdentifier(TYPES[a])])) as Record<SubjectAttribute, Buffer>;

export const UTF8_STRING = 0x0c;
export const PRINTABLE_STRING = 0x13;

/** The string type each attribute is encoded with. */
export const subjectValueTag = (attribute: SubjectAttribute): number => (attribute === 'C' ? PRINTABLE_STRING : UTF8_STRING);

/** The DER Name of a certificate subject, from its attribute values (absent ones are left out). */
export function encodeSubject(attributes: SubjectAttributes): Buffer {
  const rdns: Buffer[] = [];
  for (const attribute of SUBJECT_ORDER) {
    const value = attributes[attribute];
    if (value === undefined) continue;
    const atv = sequence(TYPE_DER[attribute], tlv(subjectValueTag(attribute), Buffer.from(value, attribute === 'C' ? 'latin1' : 'utf8')));
    rdns.push(tlv(0x31, atv));
  }
  return sequence(...rdns);
}

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
    const attribute = BY_OID.get(decodeObjectIdentifier(slice(nameDer, type)));
    const text = value ? decodeDirectoryString(value.tag, content(nameDer, value)) : null;
    if (!attribute || text === null || out[attribute] !== undefined) throw new Error('the subject holds an attribute the policy does not accept');
    out[attribute] = text;
  }
  return out;
}
