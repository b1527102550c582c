import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { readCsr, decodeDirectoryString, rsaPublicKey, type CsrParts } from './csr-reader';
import { decodeObjectIdentifier, NULL } from './der';
import { CaError } from './errors';
import { OID } from './oids';
import { isReservedAccount } from './permissions';
import { decodeSinglePem } from './pem';

/**
 * The CSR policy: what a certificate request must look like before anything is issued from it.
 * Only the subject (CN, OU, O, L, ST, C) and the public key are ever taken from a CSR.
 */

export const MAX_CSR_BYTES = 64 * 1024;

/** Application names (CN) and account names (OU): 1-64 characters, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type SubjectAttribute = 'CN' | 'OU' | 'O' | 'L' | 'ST' | 'C';

/**
 * Characters no subject value may hold: C0 and C1 controls, U+FFFD (what undecodable UTF-8 becomes),
 * the noncharacters U+FFFE/U+FFFF, line and paragraph separators, and the bidirectional embedding,
 * override and isolate controls that make a name display as something else.
 */
// eslint-disable-next-line no-control-regex
const NOT_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\ufffd\ufffe\uffff\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const SUBJECT_ATTRIBUTES: Record<string, { short: SubjectAttribute; max: number }> = {
  [OID.commonName]: { short: 'CN', max: 64 },
  [OID.organizationalUnit]: { short: 'OU', max: 64 },
  [OID.organization]: { short: 'O', max: 64 },
  [OID.locality]: { short: 'L', max: 128 },
  [OID.stateOrProvince]: { short: 'ST', max: 128 },
  [OID.country]: { short: 'C', max: 2 },
};

type KeyType = 'RSA' | 'EC';

/**
 * The accepted CSR signature algorithms: the key type each needs and its digest. Parameters: NULL or
 * absent for RSA PKCS#1 v1.5 (RFC 4055 section 5), absent for ECDSA (RFC 5758 section 3.2).
 */
const SIGNATURES: Record<string, { key: KeyType; digest: string; name: string }> = {
  [OID.sha256WithRSA]: { key: 'RSA', digest: 'sha256', name: 'sha256WithRSAEncryption' },
  [OID.sha384WithRSA]: { key: 'RSA', digest: 'sha384', name: 'sha384WithRSAEncryption' },
  [OID.sha512WithRSA]: { key: 'RSA', digest: 'sha512', name: 'sha512WithRSAEncryption' },
  [OID.ecdsaWithSHA256]: { key: 'EC', digest: 'sha256', name: 'ecdsa-with-SHA256' },
  [OID.ecdsaWithSHA384]: { key: 'EC', digest: 'sha384', name: 'ecdsa-with-SHA384' },
  [OID.ecdsaWithSHA512]: { key: 'EC', digest: 'sha512', name: 'ecdsa-with-SHA512' },
};
const WEAK_SIGNATURES: Record<string, string> = {
  [OID.md2WithRSA]: 'MD2',
  [OID.md4WithRSA]: 'MD4',
  [OID.md5WithRSA]: 'MD5',
  [OID.sha1WithRSA]: 'SHA-1',
  [OID.ecdsaWithSHA1]: 'SHA-1',
  [OID.dsaWithSHA1]: 'SHA-1',
};
/** The accepted named curves: JWK name, coordinate size, and the field prime p (a coordinate is below it). */
const CURVES: Record<string, { name: string; bytes: number; p: Buffer }> = {
  [OID.p256]: { name: 'P-256', bytes: 32, p: Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex') },
  [OID.p384]: { name: 'P-384', bytes: 48, p: Buffer.from(`${'ff'.repeat(31)}feffffffff0000000000000000ffffffff`, 'hex') },
  [OID.p521]: { name: 'P-521', bytes: 66, p: Buffer.from(`01${'ff'.repeat(65)}`, 'hex') },
};

export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;

export interface CertificateRequestInfo {
  /** The CSR's DER encoding. */
  readonly der: Buffer;
  /** The subject Name exactly as the CSR encodes it (already checked against the policy). */
  readonly subjectDer: Buffer;
  /** Human-readable subject, e.g. `CN=erp-connector, OU=acme, L=Recife, ST=PE, C=BR`. */
  readonly subject: string;
  readonly commonName: string;
  /** The OU: the account (tenant) the certificate belongs to. */
  readonly account: string;
  /** SubjectPublicKeyInfo DER. */
  readonly spkiDer: Buffer;
  /** Hex SHA-256 of the SubjectPublicKeyInfo. */
  readonly publicKeySha256: string;
  readonly keyType: KeyType;
  /** e.g. `RSA-2048`, `EC-P-256`. */
  readonly keyDescription: string;
}

/** Turns request bytes (PEM or DER) into a CSR's DER, or fails with a 400. */
export function csrDerFromBody(body: Uint8Array): Buffer {
  if (body.length === 0) throw new CaError('malformed-csr', 'the request body is empty; send a PEM or DER certificate request');
  const text = Buffer.from(body).toString('latin1');
  if (/^\s*-----BEGIN /.test(text)) {
    const block = decodeSinglePem(text);
    if (block.label !== 'CERTIFICATE REQUEST' && block.label !== 'NEW CERTIFICATE REQUEST') {
      throw new CaError('not-a-csr', `the PEM block is a ${block.label}, not a CERTIFICATE REQUEST`);
    }
    return block.der;
  }
  if (body[0] !== 0x30) {
    throw new CaError('malformed-csr', 'the body is neither a PEM certificate request nor DER');
  }
  return Buffer.from(body);
}

/** Parses and checks a CSR against the policy, verifying its proof-of-possession signature. */
export async function checkCertificateRequest(der: Buffer): Promise<CertificateRequestInfo> {
  let parts: CsrParts;
  try {
    parts = readCsr(der);
  } catch (cause) {
    throw new CaError('malformed-csr', 'the certificate request is not valid PKCS#10 DER', { cause });
  }
  if (parts.version !== 0) throw new CaError('malformed-csr', 'only PKCS#10 version 1 (0) certificate requests are accepted');

  const key = checkPublicKey(parts);
  const digest = checkSignatureAlgorithm(parts, key.type);
  const subject = checkSubject(parts);
  verifyProofOfPossession(parts, digest, key.object);

  return {
    der,
    subjectDer: parts.subjectDer,
    subject: subject.display,
    commonName: subject.values.CN,
    account: subject.values.OU,
    spkiDer: parts.spkiDer,
    publicKeySha256: createHash('sha256').update(parts.spkiDer).digest('hex'),
    keyType: key.type,
    keyDescription: key.description,
  };
}

/** The signature algorithm must be accepted, go with the key's type and carry the parameters its RFC says; returns its digest. */
function checkSignatureAlgorithm(parts: CsrParts, keyType: KeyType): string {
  const oid = parts.signatureAlgorithm;
  if (WEAK_SIGNATURES[oid]) {
    throw new CaError('weak-csr-signature', `the CSR is signed with ${WEAK_SIGNATURES[oid]}; use SHA-256 or stronger`);
  }
  if (oid === OID.rsassaPss) {
    throw new CaError('weak-csr-signature', 'RSASSA-PSS CSR signatures are not accepted; sign with RSA PKCS#1 v1.5 (openssl req default) or ECDSA, SHA-256 or stronger');
  }
  const algorithm = SIGNATURES[oid];
  if (!algorithm) {
    throw new CaError('weak-csr-signature', `the CSR's signature algorithm ${oid} is not accepted; use RSA or ECDSA with SHA-256 or stronger`);
  }
  if (algorithm.key !== keyType) {
    throw new CaError('csr-signature-invalid', `the CSR is signed with ${algorithm.name}, which does not go with its ${keyType} key`);
  }
  const params = parts.signatureParametersDer;
  if (keyType === 'EC' && params !== null) {
    throw new CaError('csr-signature-invalid', `the ${algorithm.name} signature algorithm must have no parameters`);
  }
  if (keyType === 'RSA' && params !== null && !params.equals(NULL)) {
    throw new CaError('csr-signature-invalid', `the ${algorithm.name} signature algorithm's parameters must be NULL or absent`);
  }
  return algorithm.digest;
}

/** Checks the key and builds it (through JWK: OpenSSL 3's SPKI decoder costs ~110 µs a key, this ~5 µs). */
function checkPublicKey(parts: CsrParts): { type: KeyType; description: string; object: KeyObject } {
  if (parts.keyAlgorithm === OID.rsaEncryption) {
    if (!parts.keyParametersDer || !parts.keyParametersDer.equals(NULL)) {
      throw new CaError('key-not-allowed', 'an rsaEncryption public key must have NULL parameters');
    }
    let key: ReturnType<typeof rsaPublicKey>;
    try {
      key = rsaPublicKey(parts.publicKeyBits);
    } catch (cause) {
      throw new CaError('malformed-csr', 'the CSR carries an RSA public key that cannot be parsed', { cause });
    }
    const bits = key.bits;
    // Odd, at least 65537, at most 256 bits (NIST SP 800-56B): rules out e = 1 and absurd exponents.
    if (!key.minimal || key.e.length > 32 || (key.e[key.e.length - 1] & 1) === 0 || (key.e.length <= 3 && key.e.readUIntBE(0, key.e.length) < 65537)) {
      throw new CaError('key-not-allowed', 'the RSA public exponent must be odd and from 65537 to 2^256, and the key DER-minimal');
    }
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
      throw new CaError('key-not-allowed', `RSA keys must be ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits; this one has ${bits}`);
    }
    if ((key.n[key.n.length - 1] & 1) === 0) throw new CaError('key-not-allowed', 'the RSA modulus must be odd');
    const jwk = { kty: 'RSA', n: key.n.toString('base64url'), e: key.e.toString('base64url') };
    try {
      return { type: 'RSA', description: `RSA-${bits}`, object: createPublicKey({ key: jwk, format: 'jwk' }) };
    } catch (cause) {
      throw new CaError('key-not-allowed', 'the CSR carries an RSA public key that cannot be used', { cause });
    }
  }
  if (parts.keyAlgorithm === OID.ecPublicKey) {
    // ECParameters: only namedCurve (RFC 5480 section 2.1.1), one OBJECT IDENTIFIER and nothing else.
    let oid: string | undefined;
    try {
      oid = parts.keyParametersDer ? decodeObjectIdentifier(parts.keyParametersDer) : undefined;
    } catch {
      oid = undefined;
    }
    const curve = oid ? CURVES[oid] : undefined;
    if (!curve) throw new CaError('key-not-allowed', 'EC keys must use the named curve P-256, P-384 or P-521');
    return { type: 'EC', description: `EC-${curve.name}`, object: ecPublicKey(parts.publicKeyBits, curve) };
  }
  throw new CaError(
    'key-not-allowed',
    `public key algorithm ${parts.keyAlgorithm} is not accepted; use RSA (2048-8192 bits) or ECDSA (P-256, P-384, P-521)`,
  );
}

function checkSubject(parts: CsrParts): { values: Record<SubjectAttribute, string>; display: string } {
  const values: Partial<Record<SubjectAttribute, string>> = {};
  const display: string[] = [];
  for (const rdn of parts.subject) {
    if (rdn.length !== 1) throw new CaError('subject-not-allowed', 'multi-valued RDNs are not accepted in the subject');
    const atv = rdn[0];
    const known = SUBJECT_ATTRIBUTES[atv.type];
    if (!known) {
      throw new CaError('subject-not-allowed', `subject attribute ${atv.type} is not accepted; use only CN, OU, O, L, ST and C`);
    }
    const value = decodeDirectoryString(atv.tag, atv.value);
    if (value === null) throw new CaError('subject-not-allowed', 'subject attributes must be well-formed text strings');
    if (values[known.short] !== undefined) {
      throw new CaError('subject-not-allowed', `the subject has more than one ${known.short}`);
    }
    if (value.length === 0 || value.length > known.max || NOT_PRINTABLE.test(value)) {
      throw new CaError('subject-not-allowed', `${known.short} must be 1-${known.max} printable characters`);
    }
    values[known.short] = value;
    display.push(`${known.short}=${escapeRdnValue(value)}`);
  }
  if (values.CN === undefined) throw new CaError('subject-not-allowed', 'the subject has no CN (the application name)');
  if (values.OU === undefined) throw new CaError('subject-not-allowed', 'the subject has no OU (the account name)');
  if (!NAME_PATTERN.test(values.CN)) {
    throw new CaError('subject-not-allowed', 'CN must be an application name: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  if (!NAME_PATTERN.test(values.OU)) {
    throw new CaError('subject-not-allowed', 'OU must be an account name: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  if (isReservedAccount(values.OU)) {
    throw new CaError('subject-not-allowed', `OU "${values.OU}" is reserved for the service's own certificates`);
  }
  if (values.C !== undefined && !/^[A-Za-z]{2}$/.test(values.C)) {
    throw new CaError('subject-not-allowed', 'C must be a two-letter country code');
  }
  return { values: values as Record<SubjectAttribute, string>, display: display.join(', ') };
}

/** A value with nothing to escape (most): one scan instead of three replacements. */
const RDN_ESCAPE_NEEDED = /[,+"\\<>;=]|^[ #]| $/;

function escapeRdnValue(value: string): string {
  if (!RDN_ESCAPE_NEEDED.test(value)) return value;
  return value.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
}

/**
 * An EC point as the certificate will carry it: uncompressed only (04 || x || y, RFC 5480 section 2.2).
 * Hybrid forms (06, 07) MUST NOT be used; compressed ones (02, 03) MAY be supported and are refused
 * here too, so every issued certificate holds a key any relying party can read. Each coordinate is
 * below the field prime and the point is on the curve (the JWK import checks that).
 */
function ecPublicKey(point: Buffer, curve: { name: string; bytes: number; p: Buffer }): KeyObject {
  if (point[0] !== 0x04 || point.length !== 1 + 2 * curve.bytes) {
    throw new CaError('key-not-allowed', `the EC public key must be an uncompressed ${curve.name} point (04, then x and y of ${curve.bytes} bytes each); compressed and hybrid forms are not accepted`);
  }
  const x = point.subarray(1, 1 + curve.bytes);
  const y = point.subarray(1 + curve.bytes);
  if (Buffer.compare(x, curve.p) >= 0 || Buffer.compare(y, curve.p) >= 0) {
    throw new CaError('key-not-allowed', `the EC public key is not a point on ${curve.name}`);
  }
  try {
    return createPublicKey({ key: { kty: 'EC', crv: curve.name, x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    throw new CaError('key-not-allowed', `the EC public key is not a point on ${curve.name}`, { cause });
  }
}

/** Proof of possession: the CSR's signature over its CertificationRequestInfo, with its own key. */
function verifyProofOfPossession(parts: CsrParts, digest: string, key: KeyObject): void {
  let ok = false;
  try {
    ok = nodeVerify(digest, parts.infoDer, { key, dsaEncoding: 'der' }, parts.signature);
  } catch (cause) {
    throw new CaError('csr-signature-invalid', "the CSR's signature could not be verified with its public key", { cause });
  }
  if (!ok) throw new CaError('csr-signature-invalid', "the CSR's signature does not match its public key (no proof of possession)");
}
