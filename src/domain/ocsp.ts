import { children, content, decodeObjectIdentifier, DerError, enumerated, objectIdentifier, octetString, readTlv, sequence, slice, tlv, type Tlv } from './der';
import { reasonCode, type RevocationReason } from './revocation-reasons';

/** RFC 6960 OCSP: reading requests and writing responses, straight in DER. */

export const OCSP_OID = {
  basic: '1.3.6.1.5.5.7.48.1.1',
  nonce: '1.3.6.1.5.5.7.48.1.2',
  noCheck: '1.3.6.1.5.5.7.48.1.5',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

export interface OcspCertId {
  /** The CertID exactly as requested (echoed in the answer). */
  readonly der: Buffer;
  readonly hashAlgorithm: string;
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  /** Canonical uppercase hex of the serial INTEGER (as the ledger stores it). */
  readonly serialNumber: string;
}

export interface OcspRequest {
  readonly certIds: OcspCertId[];
  /** The nonce extension as sent (whole Extension DER), to echo; null when absent. */
  readonly nonceExtension: Buffer | null;
}

const expectTag = (t: Tlv | undefined, tag: number, what: string): Tlv => {
  if (!t || t.tag !== tag) throw new DerError(`malformed ${what}`);
  return t;
};

/** OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT OPTIONAL } */
export function parseOcspRequest(der: Buffer): OcspRequest {
  const outer = expectTag(readTlv(der, 0), 0x30, 'OCSPRequest');
  if (outer.end !== der.length) throw new DerError('trailing bytes after the OCSPRequest');
  const [tbs] = children(der, outer);
  const fields = children(der, expectTag(tbs, 0x30, 'TBSRequest'));
  let i = 0;
  if (fields[i]?.tag === 0xa0) i++; // version
  if (fields[i]?.tag === 0xa1) i++; // requestorName
  const list = expectTag(fields[i++], 0x30, 'requestList');
  const requests = children(der, list);
  if (requests.length === 0 || requests.length > 20) throw new DerError('an OCSP request must name 1 to 20 certificates');
  const certIds = requests.map((r) => {
    const [certId] = children(der, expectTag(r, 0x30, 'Request'));
    const [alg, nameHash, keyHash, serial, extra] = children(der, expectTag(certId, 0x30, 'CertID'));
    if (extra) throw new DerError('malformed CertID');
    const [algOid] = children(der, expectTag(alg, 0x30, 'hashAlgorithm'));
    const serialBytes = content(der, expectTag(serial, 0x02, 'serialNumber'));
    if (serialBytes.length === 0 || serialBytes.length > 21 || serialBytes[0] & 0x80) throw new DerError('serial number out of range');
    let hex = serialBytes.toString('hex').toUpperCase();
    while (hex.length > 2 && hex.startsWith('00') && parseInt(hex[2], 16) < 8) hex = hex.slice(2);
    return {
      der: slice(der, certId),
      hashAlgorithm: decodeObjectIdentifier(slice(der, expectTag(algOid, 0x06, 'hash algorithm'))),
      issuerNameHash: content(der, expectTag(nameHash, 0x04, 'issuerNameHash')),
      issuerKeyHash: content(der, expectTag(keyHash, 0x04, 'issuerKeyHash')),
      serialNumber: hex,
    };
  });
  let nonceExtension: Buffer | null = null;
  const extensions = fields[i];
  if (extensions) {
    const [seq] = children(der, expectTag(extensions, 0xa2, 'requestExtensions'));
    for (const ext of children(der, expectTag(seq, 0x30, 'Extensions'))) {
      const [oid] = children(der, expectTag(ext, 0x30, 'Extension'));
      if (decodeObjectIdentifier(slice(der, expectTag(oid, 0x06, 'extension id'))) !== OCSP_OID.nonce) continue;
      if (nonceExtension) throw new DerError('more than one nonce extension');
      checkNonce(der, ext);
      nonceExtension = slice(der, ext);
    }
  }
  return { certIds, nonceExtension };
}

/** RFC 8954: a nonce is 1 to 32 octets. */
export const MAX_NONCE_OCTETS = 32;

/**
 * Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }, where
 * extnValue holds the DER of Nonce ::= OCTET STRING (SIZE(1..32)) (RFC 8954 section 2.1).
 */
function checkNonce(der: Buffer, ext: Tlv): void {
  const fields = children(der, ext);
  const critical = fields.length === 3 ? expectTag(fields[1], 0x01, 'nonce criticality') : null;
  if (fields.length !== (critical ? 3 : 2) || (critical && content(der, critical).length !== 1)) throw new DerError('malformed nonce extension');
  const value = content(der, expectTag(fields[fields.length - 1], 0x04, 'nonce extnValue'));
  const nonce = expectTag(readTlv(value, 0), 0x04, 'nonce');
  const octets = nonce.end - nonce.contentStart;
  if (nonce.end !== value.length || octets < 1 || octets > MAX_NONCE_OCTETS) {
    throw new DerError(`the nonce must be one OCTET STRING of 1 to ${MAX_NONCE_OCTETS} octets`);
  }
}

export type OcspCertStatus =
  | { readonly type: 'good' }
  | { readonly type: 'unknown' }
  | { readonly type: 'revoked'; readonly revokedAt: Date; readonly reason: RevocationReason };

export interface SingleResponseParams {
  readonly certIdDer: Buffer;
  readonly status: OcspCertStatus;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** GeneralizedTime, seconds, Zulu (OCSP uses it for every time). */
export function generalizedTime(d: Date): Buffer {
  const text = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, Buffer.from(text, 'ascii'));
}

function certStatus(status: OcspCertStatus): Buffer {
  switch (status.type) {
    case 'good':
      return Buffer.from([0x80, 0x00]);
    case 'unknown':
      return Buffer.from([0x82, 0x00]);
    case 'revoked': {
      const code = reasonCode(status.reason);
      // RevokedInfo ::= SEQUENCE { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL } (IMPLICIT [1])
      return tlv(0xa1, generalizedTime(status.revokedAt), ...(code === 0 ? [] : [tlv(0xa0, enumerated(code))]));
    }
  }
}

/** ResponseData (v1) with a byKey responder ID. */
export function encodeResponseData(p: {
  responderKeyHash: Buffer;
  producedAt: Date;
  responses: readonly SingleResponseParams[];
  nonceExtension: Buffer | null;
}): Buffer {
  const single = p.responses.map((r) =>
    sequence(r.certIdDer, certStatus(r.status), generalizedTime(r.thisUpdate), tlv(0xa0, generalizedTime(r.nextUpdate))),
  );
  const parts = [tlv(0xa2, octetString(p.responderKeyHash)), generalizedTime(p.producedAt), sequence(...single)];
  if (p.nonceExtension) parts.push(tlv(0xa1, sequence(p.nonceExtension)));
  return sequence(...parts);
}

/** BasicOCSPResponse wrapped in a successful OCSPResponse. */
export function encodeSuccessfulResponse(responseData: Buffer, signatureAlgorithmDer: Uint8Array, signature: Uint8Array, certs: readonly Uint8Array[]): Buffer {
  const basicParts = [responseData, Buffer.from(signatureAlgorithmDer), tlv(0x03, Buffer.from([0]), signature)];
  if (certs.length > 0) basicParts.push(tlv(0xa0, sequence(...certs)));
  const basic = sequence(...basicParts);
  const responseBytes = sequence(objectIdentifierBasic, octetString(basic));
  return sequence(enumerated(0), tlv(0xa0, responseBytes));
}

const objectIdentifierBasic = objectIdentifier(OCSP_OID.basic);

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';
const ERROR_CODES: Record<OcspErrorStatus, number> = { malformedRequest: 1, internalError: 2, tryLater: 3, unauthorized: 6 };

/** An unsuccessful OCSPResponse: just the status. */
export function encodeErrorResponse(status: OcspErrorStatus): Buffer {
  return sequence(enumerated(ERROR_CODES[status]));
}
