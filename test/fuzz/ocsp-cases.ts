import fc from 'fast-check';
import { NULL, objectIdentifier, octetString, sequence, tlv } from '../../src/domain/der';
import { OCSP_OID } from '../../src/domain/ocsp';
import { harmlessHeaders } from './common-cases';
import { derGarbage } from './der-garbage';
import type { BadRequest, OcspRejection } from './request-case';

/** The responder's request limit (routes/ocsp.ts); a GET path decoding to more is not read at all. */
const MAX_OCSP_REQUEST = 16 * 1024;

/** A CertID for an issuer this responder does not serve (random hashes), or broken in one field. */
const certId = (alg: string, nameHash: Uint8Array, keyHash: Uint8Array, serial: Buffer) =>
  sequence(sequence(objectIdentifier(alg), NULL), octetString(nameHash), octetString(keyHash), serial);

/** A CertID with zero hashes (an issuer nobody has) around `serial`. */
const zeroCertId = (serial: Buffer) => certId(OCSP_OID.sha1, Buffer.alloc(20), Buffer.alloc(20), serial);
const zeroCertIdTail = [octetString(Buffer.alloc(20)), octetString(Buffer.alloc(20)), tlv(0x02, Buffer.from([1]))];

const serialInteger = fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => tlv(0x02, Buffer.concat([Buffer.from([0x01]), b])));

/** Well-formed OCSPRequests about another issuer: the answer is `unauthorized`. */
const strangerRequest: fc.Arbitrary<Buffer> = fc
  .record({
    ids: fc.array(
      fc.record({
        alg: fc.constantFrom<string>(OCSP_OID.sha1, OCSP_OID.sha256, '1.2.840.113549.2.5', '2.16.840.1.101.3.4.2.3'),
        name: fc.uint8Array({ minLength: 0, maxLength: 64 }),
        key: fc.uint8Array({ minLength: 0, maxLength: 64 }),
        serial: serialInteger,
      }),
      { minLength: 1, maxLength: 20 },
    ),
    // RFC 8954: 1-32 octets (others are malformedRequest, below).
    nonce: fc.option(fc.uint8Array({ minLength: 1, maxLength: 32 }), { nil: undefined }),
    version: fc.boolean(),
  })
  .map(({ ids, nonce, version }) => {
    const requests = ids.map((i) => sequence(certId(i.alg, i.name, i.key, i.serial)));
    const tbs = [
      ...(version ? [tlv(0xa0, Buffer.from([0x02, 0x01, 0x00]))] : []),
      sequence(...requests),
      ...(nonce ? [tlv(0xa2, sequence(sequence(objectIdentifier(OCSP_OID.nonce), octetString(octetString(nonce)))))] : []),
    ];
    return sequence(sequence(...tbs));
  });

/** OCSPRequests broken in their structure or values: the answer is `malformedRequest`. */
const malformedRequest: fc.Arbitrary<Buffer> = fc.oneof(
  // no or too many certificates; a serial that is negative, empty or longer than 21 bytes
  fc.constant(sequence(sequence(sequence()))),
  fc.integer({ min: 21, max: 300 }).map((n) => sequence(sequence(sequence(...Array.from({ length: n }, () => sequence(zeroCertId(tlv(0x02, Buffer.from([1]))))))))),
  fc.constantFrom(Buffer.from([0x02, 0x00]), Buffer.from([0x02, 0x01, 0xff]), tlv(0x02, Buffer.alloc(22, 0x11)), tlv(0x02, Buffer.alloc(12_000, 0x7f)), Buffer.from([0x04, 0x01, 0x01])).map((serial) =>
    sequence(sequence(sequence(sequence(zeroCertId(serial))))),
  ),
  // trailing bytes; truncation; an extension list that is not one
  strangerRequest.map((der) => Buffer.concat([der, Buffer.from([0x00])])),
  fc.record({ der: strangerRequest, cut: fc.nat() }).map(({ der, cut }) => der.subarray(0, cut % der.length)),
  fc.constant(sequence(sequence(sequence(sequence(zeroCertId(tlv(0x02, Buffer.from([1]))))), tlv(0xa2, tlv(0x04, Buffer.alloc(3)))))),
  // a nonce of 0 or more than 32 octets, or whose extnValue is not one OCTET STRING
  fc.oneof(fc.constant(0), fc.integer({ min: 33, max: 3000 })).map((n) =>
    sequence(sequence(sequence(sequence(zeroCertId(tlv(0x02, Buffer.from([1]))))), tlv(0xa2, sequence(sequence(objectIdentifier(OCSP_OID.nonce), octetString(octetString(Buffer.alloc(n, 0x4e))))))))),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((raw) =>
    sequence(sequence(sequence(sequence(zeroCertId(tlv(0x02, Buffer.from([1]))))), tlv(0xa2, sequence(sequence(objectIdentifier(OCSP_OID.nonce), octetString(Buffer.concat([Buffer.from([0x02]), raw])))))))),
  // an OID arc too large, in the hash algorithm
  fc.constant(sequence(sequence(sequence(sequence(sequence(sequence(tlv(0x06, Buffer.from('2affffffffffffffffffff7f', 'hex'))), ...zeroCertIdTail)))))),
  derGarbage(6000).map((g) => g.der),
  fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((b) => Buffer.from(b)),
);

const ocspBody: fc.Arbitrary<{ family: string; der: Buffer; status: OcspRejection }> = fc.oneof(
  strangerRequest.map((der) => ({ family: 'ocsp:other-issuer', der, status: 'unauthorized' as const })),
  malformedRequest.map((der) => ({ family: 'ocsp:malformed', der, status: 'malformedRequest' as const })),
);

/** POST /ocsp: any body, any media type (the responder does not look at it): an unsuccessful OCSPResponse. */
export function ocspPostCases(): fc.Arbitrary<BadRequest> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.record({ req: ocspBody, type: fc.constantFrom('application/ocsp-request', 'text/plain; charset=utf-16', 'application/json', ''), noise: harmlessHeaders }).map(
      ({ req, type, noise }): BadRequest => ({
        endpoint: 'ocsp-post',
        family: req.family,
        method: 'POST',
        path: '/ocsp',
        headers: { ...noise, ...(type ? { 'Content-Type': type } : {}) },
        body: req.der,
        // Past the limit the body is not read: 413 (allowed by the checker for any body this size).
        expect: req.der.length > MAX_OCSP_REQUEST ? { kind: 'problem', statuses: [413] } : { kind: 'ocsp', statuses: [req.status] },
      }),
    ) },
    { weight: 1, arbitrary: fc.integer({ min: MAX_OCSP_REQUEST + 1, max: 2 * 1024 * 1024 }).map((n): BadRequest => ({
      endpoint: 'ocsp-post',
      family: 'oversized',
      method: 'POST',
      path: '/ocsp',
      headers: { 'Content-Type': 'application/ocsp-request' },
      body: Buffer.alloc(n, 0x30),
      expect: { kind: 'problem', statuses: [413] },
    })) },
    { weight: 1, arbitrary: fc.record({ req: strangerRequest }).map(({ req }): BadRequest => ({
      endpoint: 'ocsp-post',
      family: 'content-encoding',
      method: 'POST',
      path: '/ocsp',
      headers: { 'Content-Type': 'application/ocsp-request', 'Content-Encoding': 'gzip' },
      body: req,
      expect: { kind: 'problem', statuses: [415] },
    })) },
  );
}

/** GET /ocsp/{url-encoded base64}: encoded bad requests, and paths that are not base64 at all. */
export function ocspGetCases(): fc.Arbitrary<BadRequest> {
  const get = (family: string, path: string, expect: BadRequest['expect']): BadRequest => ({ endpoint: 'ocsp-get', family, method: 'GET', path, headers: {}, body: undefined, expect });
  const encoded = fc.record({ req: ocspBody, how: fc.constantFrom('percent', 'raw', 'base64url', 'unpadded') }).map(({ req, how }) => {
    const b64 = req.der.toString(how === 'base64url' ? 'base64url' : 'base64');
    const seg = how === 'percent' ? encodeURIComponent(b64) : how === 'unpadded' ? b64.replace(/=+$/, '') : b64;
    // An empty request is no request (/ocsp/ is not a route); decoding past the limit is not attempted: malformed.
    if (seg === '') return get('ocsp:no-request', '/ocsp/', { kind: 'problem', statuses: [404, 405] });
    return get(req.family, `/ocsp/${seg}`, { kind: 'ocsp', statuses: [b64.length > 2 * MAX_OCSP_REQUEST ? 'malformedRequest' : req.status] });
  });
  const notBase64 = fc
    .oneof(
      fc.constantFrom('..%2F..%2Fetc%2Fpasswd', '../../etc/passwd', '%00', '%', '%zz', '%E2%80%AE', '%F0%9F%92%A9', '\u00e9', 'MEow%0AMA', 'AAAA%3D%3D%3D%3D%3D', '.', '..', '%2F', 'a;b', 'a,b'),
      fc.integer({ min: 2 * MAX_OCSP_REQUEST + 1, max: 60_000 }).map((n) => 'A'.repeat(n)),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))),
    )
    .map((seg) => get('ocsp:not-base64', `/ocsp/${seg}`, { kind: 'ocsp', statuses: ['malformedRequest', 'unauthorized'] }));
  const noRequest = fc.constantFrom('/ocsp', '/ocsp/', '/ocsp/?x=1', '/ocsp?', '//ocsp/MAA%3D').map((path) => get('ocsp:no-request', path, { kind: 'problem', statuses: [404, 405] }));
  return fc.oneof({ weight: 6, arbitrary: encoded }, { weight: 3, arbitrary: notBase64 }, { weight: 1, arbitrary: noRequest });
}
