import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { RSAPublicKey } from '@peculiar/asn1-rsa';
import { AttributeTypeAndValue } from '@peculiar/asn1-x509';
import { Name, Pkcs10CertificateRequest } from '@peculiar/x509';
import { createHash } from 'node:crypto';
import { children, decodeObjectIdentifier, DerError, readTlv, slice } from './der';
import { CaError } from './errors';
import { OID } from './oids';
import { decodeSinglePem } from './pem';

/**
 * The CSR policy: what a certificate request must look like before anything is issued from it.
 * Only the subject (CN, OU, O, L, ST, C) and the public key are ever taken from a CSR.
 */

export const MAX_CSR_BYTES = 64 * 1024;

/** Application names (CN) and account names (OU): 1-64 characters, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type SubjectAttribute = 'CN' | 'OU' | 'O' | 'L' | 'ST' | 'C';

const SUBJECT_ATTRIBUTES: Record<string, { short: SubjectAttribute; max: number }> = {
  [OID.commonName]: { short: 'CN', max: 64 },
  [OID.organizationalUnit]: { short: 'OU', max: 64 },
  [OID.organization]: { short: 'O', max: 64 },
  [OID.locality]: { short: 'L', max: 128 },
  [OID.stateOrProvince]: { short: 'ST', max: 128 },
  [OID.country]: { short: 'C', max: 2 },
};

const ACCEPTED_SIGNATURES = new Set<string>([
  OID.sha256WithRSA,
  OID.sha384WithRSA,
  OID.sha512WithRSA,
  OID.rsassaPss,
  OID.ecdsaWithSHA256,
  OID.ecdsaWithSHA384,
  OID.ecdsaWithSHA512,
]);
const WEAK_SIGNATURES: Record<string, string> = {
  [OID.md2WithRSA]: 'MD2',
  [OID.md4WithRSA]: 'MD4',
  [OID.md5WithRSA]: 'MD5',
  [OID.sha1WithRSA]: 'SHA-1',
  [OID.ecdsaWithSHA1]: 'SHA-1',
  [OID.dsaWithSHA1]: 'SHA-1',
};
const CURVES: Record<string, string> = { [OID.p256]: 'P-256', [OID.p384]: 'P-384', [OID.p521]: 'P-521' };

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
  readonly keyType: 'RSA' | 'EC';
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
export async function checkCertificateRequest(der: Buffer, crypto: Crypto): Promise<CertificateRequestInfo> {
  const structure = splitCsr(der);
  let asn: CertificationRequest;
  try {
    asn = AsnConvert.parse(der, CertificationRequest);
  } catch (cause) {
    throw new CaError('malformed-csr', 'the certificate request is not valid PKCS#10 DER', { cause });
  }
  if (asn.certificationRequestInfo.version !== 0) {
    throw new CaError('malformed-csr', 'only PKCS#10 version 1 (0) certificate requests are accepted');
  }

  const key = checkPublicKey(asn);
  checkSignatureAlgorithm(asn.signatureAlgorithm.algorithm);
  const subject = checkSubject(asn);
  await verifyProofOfPossession(der, crypto);

  return {
    der,
    subjectDer: structure.subjectDer,
    subject: subject.display,
    commonName: subject.values.CN,
    account: subject.values.OU,
    spkiDer: structure.spkiDer,
    publicKeySha256: createHash('sha256').update(structure.spkiDer).digest('hex'),
    keyType: key.type,
    keyDescription: key.description,
  };
}

function splitCsr(der: Buffer): { subjectDer: Buffer; spkiDer: Buffer } {
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new DerError('not a single DER SEQUENCE');
    const [info] = children(der, outer);
    if (!info || info.tag !== 0x30) throw new DerError('missing CertificationRequestInfo');
    const [version, subject, spki] = children(der, info);
    if (!version || version.tag !== 0x02 || !subject || subject.tag !== 0x30 || !spki || spki.tag !== 0x30) {
      throw new DerError('malformed CertificationRequestInfo');
    }
    return { subjectDer: slice(der, subject), spkiDer: slice(der, spki) };
  } catch (cause) {
    throw new CaError('malformed-csr', 'the certificate request is not valid PKCS#10 DER', { cause });
  }
}

function checkSignatureAlgorithm(oid: string): void {
  if (WEAK_SIGNATURES[oid]) {
    throw new CaError('weak-csr-signature', `the CSR is signed with ${WEAK_SIGNATURES[oid]}; use SHA-256 or stronger`);
  }
  if (!ACCEPTED_SIGNATURES.has(oid)) {
    throw new CaError('weak-csr-signature', `the CSR's signature algorithm ${oid} is not accepted; use RSA or ECDSA with SHA-256 or stronger`);
  }
}

function checkPublicKey(asn: CertificationRequest): { type: 'RSA' | 'EC'; description: string } {
  const spki = asn.certificationRequestInfo.subjectPKInfo;
  const alg = spki.algorithm.algorithm;
  if (alg === OID.rsaEncryption) {
    let bits: number;
    try {
      const rsa = AsnConvert.parse(spki.subjectPublicKey, RSAPublicKey);
      const modulus = Buffer.from(rsa.modulus);
      let start = 0;
      while (start < modulus.length && modulus[start] === 0) start++;
      bits = start === modulus.length ? 0 : (modulus.length - start - 1) * 8 + (32 - Math.clz32(modulus[start]));
    } catch (cause) {
      throw new CaError('malformed-csr', 'the CSR carries an RSA public key that cannot be parsed', { cause });
    }
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
      throw new CaError('key-not-allowed', `RSA keys must be ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits; this one has ${bits}`);
    }
    return { type: 'RSA', description: `RSA-${bits}` };
  }
  if (alg === OID.ecPublicKey) {
    let curve: string | undefined;
    try {
      const params = spki.algorithm.parameters;
      if (params) curve = decodeObjectIdentifier(new Uint8Array(params));
    } catch {
      curve = undefined;
    }
    const name = curve ? CURVES[curve] : undefined;
    if (!name) throw new CaError('key-not-allowed', 'EC keys must use the named curve P-256, P-384 or P-521');
    return { type: 'EC', description: `EC-${name}` };
  }
  throw new CaError('key-not-allowed', `public key algorithm ${alg} is not accepted; use RSA (2048-8192 bits) or ECDSA (P-256, P-384, P-521)`);
}


function attributeText(atv: AttributeTypeAndValue): string {
  const v = atv.value;
  const text = v.utf8String ?? v.printableString ?? v.teletexString ?? v.universalString ?? v.bmpString ?? v.ia5String;
  if (text === undefined) {
    throw new CaError('subject-not-allowed', 'subject attributes must be text strings');
  }
  return text;
}

function checkSubject(asn: CertificationRequest): { values: Record<SubjectAttribute, string>; display: string } {
  const values: Partial<Record<SubjectAttribute, string>> = {};
  const parts: string[] = [];
  for (const rdn of asn.certificationRequestInfo.subject) {
    if (rdn.length !== 1) throw new CaError('subject-not-allowed', 'multi-valued RDNs are not accepted in the subject');
    const atv = rdn[0];
    const known = SUBJECT_ATTRIBUTES[atv.type];
    if (!known) {
      throw new CaError('subject-not-allowed', `subject attribute ${atv.type} is not accepted; use only CN, OU, O, L, ST and C`);
    }
    const value = attributeText(atv);
    if (values[known.short] !== undefined) {
      throw new CaError('subject-not-allowed', `the subject has more than one ${known.short}`);
    }
    // eslint-disable-next-line no-control-regex
    if (value.length === 0 || value.length > known.max || /[\u0000-\u001f\u007f-\u009f\ufffd]/.test(value)) {
      throw new CaError('subject-not-allowed', `${known.short} must be 1-${known.max} printable characters`);
    }
    values[known.short] = value;
    parts.push(`${known.short}=${escapeRdnValue(value)}`);
  }
  if (values.CN === undefined) throw new CaError('subject-not-allowed', 'the subject has no CN (the application name)');
  if (values.OU === undefined) throw new CaError('subject-not-allowed', 'the subject has no OU (the account name)');
  if (!NAME_PATTERN.test(values.CN)) {
    throw new CaError('subject-not-allowed', 'CN must be an application name: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  if (!NAME_PATTERN.test(values.OU)) {
    throw new CaError('subject-not-allowed', 'OU must be an account name: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  if (values.C !== undefined && !/^[A-Za-z]{2}$/.test(values.C)) {
    throw new CaError('subject-not-allowed', 'C must be a two-letter country code');
  }
  return { values: values as Record<SubjectAttribute, string>, display: parts.join(', ') };
}

function escapeRdnValue(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
}

async function verifyProofOfPossession(der: Buffer, crypto: Crypto): Promise<void> {
  let ok = false;
  try {
    ok = await new Pkcs10CertificateRequest(new Uint8Array(der)).verify(crypto);
  } catch (cause) {
    throw new CaError('csr-signature-invalid', "the CSR's signature could not be verified with its public key", { cause });
  }
  if (!ok) throw new CaError('csr-signature-invalid', "the CSR's signature does not match its public key (no proof of possession)");
}

/** Display form of an encoded Name (for certificates we did not parse through the policy). */
export function nameToString(der: Uint8Array): string {
  return new Name(new Uint8Array(der)).toString();
}
