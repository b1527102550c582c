import { children, decodeObjectIdentifier, objectIdentifier, readTlv, slice, type Tlv } from '../domain/der';
import { VERSION_V3, type ProfileExtension } from './certificate-template';
import { subjectAttributeAt, subjectValueTag, SUBJECT_ORDER } from './subject-name';

/** What a TBSCertificate of this CA must hold, whoever assembled it. */
export interface TbsExpectations {
  readonly signatureAlgorithmDer: Uint8Array;
  /** The CA's subject Name DER. */
  readonly issuerDer: Uint8Array;
  readonly caNotAfter: Date;
  /** The longest notAfter − notBefore the profile allows. */
  readonly maxLifetimeMs: number;
  /** The key being certified. */
  readonly spkiDer: Uint8Array;
  /** Its key identifier (SHA-1 of the key bits, see subjectKeyIdentifierBytes): the SKI must be exactly this. */
  readonly subjectKeyId: Uint8Array;
  /** Exactly these extensions (by OID; each byte-equal to the profile's, the SKI computed from the key). */
  readonly extensions: readonly ProfileExtension[];
}

/** A to-be-signed certificate broke an invariant: a bug, never signed. */
export class IssuanceCheckError extends Error {
  override readonly name = 'IssuanceCheckError';
}


function fail(what: string): never {
  throw new IssuanceCheckError(`refusing to sign: ${what}`);
}

/**
 * Checks a DER TBSCertificate before it is signed (Boulder's lint step, reduced to our profile):
 * v3; a positive serial of 1–20 octets; the CA's signature algorithm and subject as issuer; a
 * validity inside the profile's maximum and the CA's notAfter; a subject re-encoded in the fixed
 * order and string types; the requested key; exactly the profile's extensions, found by OID.
 */
export function checkTbsCertificate(tbs: Buffer, expect: TbsExpectations): void {
  const outer = readTlv(tbs, 0);
  if (outer.tag !== 0x30 || outer.end !== tbs.length) fail('the TBSCertificate is not one DER SEQUENCE');
  const [version, serial, signature, issuer, validity, subject, spki, extensions, extra] = children(tbs, outer);
  if (!extensions || extra) fail('the TBSCertificate does not have exactly the eight v3 fields');
  if (!bytesAt(tbs, version, VERSION_V3)) fail('the certificate is not v3');
  checkSerial(tbs, serial);
  if (!bytesAt(tbs, signature, expect.signatureAlgorithmDer)) fail("the signature algorithm is not the CA's");
  if (!bytesAt(tbs, issuer, expect.issuerDer)) fail("the issuer is not the CA's subject");
  checkValidity(tbs, validity, expect);
  checkSubject(tbs, subject);
  if (!bytesAt(tbs, spki, expect.spkiDer)) fail('the public key is not the requested one');
  checkExtensions(tbs, extensions, expect);
}

/** Whether `tbs` holds exactly `expected` from `start` to `end` (compared in place, nothing allocated). */
function bytesAt(tbs: Uint8Array, t: { start: number; end: number }, expected: Uint8Array): boolean {
  if (t.end - t.start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (tbs[t.start + i] !== expected[i]) return false;
  return true;
}

function checkSerial(tbs: Buffer, serial: Tlv): void {
  const [at, length] = [serial.contentStart, serial.end - serial.contentStart];
  if (serial.tag !== 0x02 || length < 1 || length > 20) fail('the serial number is not an INTEGER of 1 to 20 octets');
  if (tbs[at] & 0x80) fail('the serial number is negative');
  if (length > 1 && tbs[at] === 0 && !(tbs[at + 1] & 0x80)) fail('the serial number is not minimally encoded');
  if (length === 1 && tbs[at] === 0) fail('the serial number is zero');
}

function checkValidity(tbs: Buffer, validity: Tlv, expect: TbsExpectations): void {
  const [from, to, extra] = children(tbs, validity);
  if (!to || extra) fail('the validity is not two times');
  const notBefore = decodeTime(tbs, from);
  const notAfter = decodeTime(tbs, to);
  if (notAfter <= notBefore) fail('notAfter is not after notBefore');
  if (notAfter - notBefore > expect.maxLifetimeMs) fail("the validity is longer than the profile's maximum");
  if (notAfter > expect.caNotAfter.getTime()) fail("the certificate would outlive the CA's certificate");
}

/** RFC 5280 UTCTime (through 2049) or GeneralizedTime, seconds, Zulu; milliseconds since the epoch. */
function decodeTime(tbs: Buffer, t: Tlv): number {
  const digits = t.tag === 0x17 ? 12 : t.tag === 0x18 ? 14 : 0;
  if (digits === 0 || t.end - t.contentStart !== digits + 1 || tbs[t.end - 1] !== 0x5a) fail('a validity time is not a Zulu UTCTime or GeneralizedTime with seconds');
  const n = (from: number, count: number) => {
    let v = 0;
    for (let i = t.contentStart + from; i < t.contentStart + from + count; i++) {
      const d = tbs[i] - 0x30;
      if (d < 0 || d > 9) fail('a validity time has a non-digit');
      v = v * 10 + d;
    }
    return v;
  };
  const y = digits === 12 ? n(0, 2) : n(0, 4);
  const year = digits === 12 ? (y < 50 ? 2000 + y : 1900 + y) : y;
  if (digits === 14 && year >= 1950 && year < 2050) fail('a time before 2050 is not encoded as UTCTime');
  const o = digits - 10;
  const [mo, d, h, mi, s] = [n(o, 2), n(o + 2, 2), n(o + 4, 2), n(o + 6, 2), n(o + 8, 2)];
  const daysInMonth = mo === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(mo) ? 30 : 31;
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) fail('a validity time is not a real time');
  return Date.UTC(year, mo - 1, d, h, mi, s);
}

function checkSubject(tbs: Buffer, subject: Tlv): void {
  let last = -1;
  let seen = 0;
  for (const set of children(tbs, subject)) {
    const atvs = children(tbs, set);
    if (set.tag !== 0x31 || atvs.length !== 1) fail('the subject has a multi-valued RDN');
    const [type, value] = children(tbs, atvs[0]);
    const short = type.end - type.start === 5 ? subjectAttributeAt(tbs, type.start) : undefined;
    if (!short) fail('the subject has an attribute outside C, ST, L, O, OU, CN');
    const rank = SUBJECT_ORDER.indexOf(short);
    if (rank <= last) fail('the subject attributes are not in the order C, ST, L, O, OU, CN, each at most once');
    last = rank;
    seen |= 1 << rank;
    if (value.tag !== subjectValueTag(short)) fail(`the subject ${short} is not encoded as ${short === 'C' ? 'PrintableString' : 'UTF8String'}`);
  }
  const required = (1 << SUBJECT_ORDER.indexOf('CN')) | (1 << SUBJECT_ORDER.indexOf('OU'));
  if ((seen & required) !== required) fail('the subject lacks CN or OU');
}

function checkExtensions(tbs: Buffer, wrapper: Tlv, expect: TbsExpectations): void {
  if (wrapper.tag !== 0xa3) fail('the TBSCertificate has no [3] extensions');
  const [list, extra] = children(tbs, wrapper);
  if (!list || extra || list.tag !== 0x30) fail('the extensions are not one SEQUENCE');
  const wanted = wantedExtensions(expect.extensions);
  let seen = 0;
  for (const ext of children(tbs, list)) {
    const oidTlv = readTlv(tbs, ext.contentStart, ext.end);
    if (oidTlv.tag !== 0x06) fail('an extension has no OBJECT IDENTIFIER');
    const index = wanted.findIndex((w) => bytesAt(tbs, oidTlv, w.oidDer));
    const oid = () => decodeObjectIdentifier(slice(tbs, oidTlv));
    if (index < 0) fail(`extension ${oid()} is not in the profile`);
    if (seen & (1 << index)) fail(`extension ${oid()} appears twice`);
    seen |= 1 << index;
    const { der } = wanted[index].extension;
    const ok = der !== null ? bytesAt(tbs, ext, der) : bytesAt(tbs, skiValue(tbs, ext), expect.subjectKeyId);
    if (!ok) fail(`extension ${oid()} is not the profile's`);
  }
  if (seen !== 2 ** wanted.length - 1) {
    fail(`extensions missing: ${wanted.filter((_, i) => !(seen & (1 << i))).map((w) => w.extension.oid).join(', ')}`);
  }
}

interface WantedExtension {
  readonly oidDer: Buffer;
  readonly extension: ProfileExtension;
}

const byList = new WeakMap<readonly ProfileExtension[], WantedExtension[]>();

/** The profile's extensions with their OIDs' DER, built once per list (at most 31: a bit each). */
function wantedExtensions(list: readonly ProfileExtension[]): WantedExtension[] {
  let wanted = byList.get(list);
  if (!wanted) {
    if (list.length > 31) throw new Error('a profile of more than 31 extensions');
    wanted = list.map((extension) => ({ oidDer: objectIdentifier(extension.oid), extension }));
    byList.set(list, wanted);
  }
  return wanted;
}

/** Where the key identifier is inside a subjectKeyIdentifier extension (non-critical: OID, OCTET STRING { OCTET STRING }). */
function skiValue(tbs: Buffer, ext: Tlv): { start: number; end: number } {
  const fields = children(tbs, ext);
  if (fields.length !== 2 || fields[1].tag !== 0x04) fail('the subjectKeyIdentifier is not a non-critical extension');
  const value = readTlv(tbs, fields[1].contentStart, fields[1].end);
  if (value.tag !== 0x04 || value.end !== fields[1].end) fail('the subjectKeyIdentifier is not an OCTET STRING');
  return { start: value.contentStart, end: value.end };
}
