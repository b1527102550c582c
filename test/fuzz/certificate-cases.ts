import fc from 'fast-check';
import { authHeaders, badAuth, badSerialSegment, brokenJson, harmlessHeaders, queryString, WRONG_CONTENT_TYPES } from './common-cases';
import type { BadRequest, Credentials } from './request-case';

const BASES = ['/private-certificates', '/api/edge/private-certificates'];
const base = fc.constantFrom(...BASES);
/** A well-formed serial of no certificate (16 random bytes: the service's own serials are never guessed). */
const unknownSerial = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex').toUpperCase());
const enc = encodeURIComponent;

// ---- revoke ----

/** The revocation body limit (routes/certificates.ts). */
const MAX_REVOKE_BODY = 4 * 1024;

const REASONS_REFUSED = ['certificateHold', 'removeFromCRL', '6', '8', '7', '11', '99', '-1', '1.0', 'key compromise', 'key_compromise', 'superseded\u0000', '\u0130nvalid', 'x'.repeat(41)];
const badReasonValue = fc.oneof(fc.constantFrom(...REASONS_REFUSED), fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/^\s*(\d{1,2}|[a-z]+)\s*$/i.test(s)));

/**
 * DELETE /private-certificates/{serial}: bad serials (400/404), refused or repeated reasons (400),
 * unknown parameters (400), broken or mistyped bodies (400/415), unknown certificates (404), bad credentials (401).
 */
export function revokeCases(credentials: Credentials): fc.Arbitrary<BadRequest> {
  const auth = authHeaders(credentials);
  const json = { ...auth, 'Content-Type': 'application/json' };
  const make = (family: string, path: string, statuses: number[], headers: Record<string, string> = auth, body?: Buffer): BadRequest => ({
    endpoint: 'revoke',
    family,
    method: 'DELETE',
    path,
    headers,
    body,
    expect: { kind: 'problem', statuses },
  });
  const badBodyReason = fc.oneof(
    badReasonValue.map((reason): unknown => ({ reason })),
    fc.constantFrom<unknown>(
      { reason: 6 }, { reason: 100 }, { reason: -1 }, { reason: 1.5 }, { reason: null }, { reason: true }, { reason: [1] }, { reason: { code: 1 } },
      { reason: 'keyCompromise', extra: 1 }, [], 'keyCompromise', 1, null,
    ),
  );
  const unknownParameter = fc.constantFrom('reasons', 'Reason', 'reason[]', 'reason[0]', '__proto__', 'constructor', 'a'.repeat(200), '%00');
  const wrongType = fc.constantFrom(...WRONG_CONTENT_TYPES.filter((t) => t !== 'application/json'));
  const reasonNoOneRefuses = fc.constantFrom('keyCompromise', '1', 'superseded', 'UNSPECIFIED', '%201%20');
  return fc.oneof(
    fc.record({ base, seg: badSerialSegment, noise: harmlessHeaders }).map(({ base, seg, noise }) => make('bad-serial', `${base}/${seg}`, [400, 404], { ...noise, ...auth })),
    fc.record({ base, serial: unknownSerial, reason: badReasonValue }).map(({ base, serial, reason }) => make('bad-reason', `${base}/${serial}?reason=${enc(reason)}`, [400])),
    fc.record({ base, serial: unknownSerial, n: fc.integer({ min: 2, max: 50 }) }).map(({ base, serial, n }) =>
      make('repeated-reason', `${base}/${serial}${queryString(Array.from({ length: n }, () => ['reason', 'keyCompromise'] as const))}`, [400]),
    ),
    fc.record({ base, serial: unknownSerial, name: unknownParameter }).map(({ base, serial, name }) => make('unknown-parameter', `${base}/${serial}?${name}=keyCompromise`, [400])),
    fc.record({ base, serial: unknownSerial, body: brokenJson }).map(({ base, serial, body }) =>
      make('broken-json', `${base}/${serial}`, body.length > MAX_REVOKE_BODY ? [413] : [400], json, body),
    ),
    fc.record({ base, serial: unknownSerial, body: badBodyReason }).map(({ base, serial, body }) =>
      make('bad-json-reason', `${base}/${serial}`, [400], json, Buffer.from(JSON.stringify(body))),
    ),
    fc.record({ base, serial: unknownSerial }).map(({ base, serial }) =>
      make('conflicting-reasons', `${base}/${serial}?reason=keyCompromise`, [400], json, Buffer.from('{"reason":"superseded"}')),
    ),
    fc.record({ base, serial: unknownSerial, type: wrongType }).map(({ base, serial, type }) =>
      make('media-type', `${base}/${serial}`, [415], { ...auth, 'Content-Type': type }, Buffer.from('{"reason":"keyCompromise"}')),
    ),
    fc.record({ base, serial: unknownSerial, reason: reasonNoOneRefuses }).map(({ base, serial, reason }) => make('unknown-certificate', `${base}/${serial}?reason=${reason}`, [404])),
    fc.record({ base, serial: unknownSerial, auth: badAuth }).map(({ base, serial, auth }) => make('bad-auth', `${base}/${serial}?reason=keyCompromise`, [401], auth)),
  );
}

// ---- list ----

const VALID_PARAMS: Record<string, fc.Arbitrary<string>> = {
  status: fc.constantFrom('valid', 'revoked', 'expired'),
  commonName: fc.constantFrom('erp-connector', 'x'),
  account: fc.constantFrom('acme', 'platform'),
  expiresBefore: fc.constantFrom('2030-01-01', '2030-01-01T00:00:00Z'),
  expiresAfter: fc.constant('2000-01-01T00:00:00%2B03:00'),
  issuedBefore: fc.constant('2099-12-31'),
  issuedAfter: fc.constant('1970-01-01T00:00:00Z'),
  limit: fc.constantFrom('1', '100', '1000'),
};

const BAD_DATES = [
  '2024-13-01', '2024-02-30T00:00:00Z', '2024-01-01T00:00:00', '1969-12-31', '1970-01-01T00:00:00%2B14:00', '9999-12-31T23:59:59-23:59',
  '%2B275760-09-13T00:00:00Z', '1e309', 'now', '0', '', '2024-01-01T25:00:00Z', '20240101', '2024-1-1', '\u00e9',
];

/** For each parameter, values the list must refuse (already encoded for the query string). */
const BAD_VALUES: Record<string, fc.Arbitrary<string>> = {
  status: fc.oneof(
    fc.constantFrom('VALID', 'valid%20', 'all', '', 'revoked,valid', 'valid%00', '*'),
    fc.string({ maxLength: 30 }).filter((s) => !['valid', 'revoked', 'expired'].includes(s)).map(enc),
  ),
  commonName: fc.oneof(fc.constant(''), fc.integer({ min: 65, max: 2000 }).map((n) => 'c'.repeat(n))),
  account: fc.constantFrom('', '%20acme', '..%2Facme', 'acme%2F..', '-acme', '.acme', 'a'.repeat(65), 'acme%00', 'ac%20me', '%C3%A9', 'acme%0A'),
  expiresBefore: fc.constantFrom(...BAD_DATES),
  expiresAfter: fc.constantFrom(...BAD_DATES),
  issuedBefore: fc.constantFrom(...BAD_DATES),
  issuedAfter: fc.constantFrom(...BAD_DATES),
  limit: fc.constantFrom('0', '1001', '-1', '1e309', '1e3', '1.5', '%201', '1%20', '%2B1', '0x10', 'Infinity', 'NaN', '', '9999', '10000', '99999999999999999999', '%EF%BC%91', '00000'),
  cursor: fc.oneof(
    fc.constant(''),
    fc.integer({ min: 101, max: 3000 }).map((n) => 'A'.repeat(n)),
    fc.string({ minLength: 1, maxLength: 100 }).filter((s) => !/^\d{1,15}\.[0-9A-F]{2,40}$/.test(Buffer.from(s, 'base64url').toString('utf8'))).map(enc),
    fc.constantFrom('..%2F..%2F', '%00', 'MTIz', Buffer.from('999999999999999.AB').toString('base64url'), Buffer.from('1.ab').toString('base64url')),
  ),
};

type Pair = readonly [string, string];
const PARAM_NAMES = Object.keys(VALID_PARAMS);

/** Some valid parameters (distinct names), never `except`. */
const validPairs = (except: string): fc.Arbitrary<Pair[]> =>
  fc.subarray(PARAM_NAMES.filter((n) => n !== except)).chain((names) => (names.length ? fc.tuple(...names.map((n) => VALID_PARAMS[n].map((v): Pair => [n, v]))) : fc.constant([] as Pair[])));

/** One defect that makes the query invalid whatever else it holds. */
const listDefect: fc.Arbitrary<{ family: string; name: string; pairs: Pair[] }> = fc.oneof(
  fc.constantFrom(...Object.keys(BAD_VALUES)).chain((name) => BAD_VALUES[name].map((v) => ({ family: `bad-${name}`, name, pairs: [[name, v] as Pair] }))),
  fc.record({ name: fc.constantFrom(...PARAM_NAMES), n: fc.integer({ min: 2, max: 5 }) }).chain(({ name, n }) =>
    fc.array(VALID_PARAMS[name], { minLength: n, maxLength: n }).map((values) => ({ family: 'repeated-parameter', name, pairs: values.map((v): Pair => [name, v]) })),
  ),
  fc
    .record({
      name: fc.constantFrom('Status', 'LIMIT', 'limit[]', 'limit[0]', 'offset', 'page', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'sort', '%00', 'a%5Bb%5D', 'x'.repeat(500)),
      v: fc.constantFrom('1', '', 'x'),
    })
    .map(({ name, v }) => ({ family: 'unknown-parameter', name, pairs: [[name, v] as Pair] })),
  fc.integer({ min: 1001, max: 10_000 }).map((n) => ({ family: 'many-parameters', name: '', pairs: Array.from({ length: n }, (_, i): Pair => [`p${i}`, '1']) })),
  fc.integer({ min: 1001, max: 10_000 }).map((n) => ({ family: 'many-repeated-parameters', name: 'limit', pairs: Array.from({ length: n }, (): Pair => ['limit', '1']) })),
);

/** GET /private-certificates with a query the schema refuses (400), or bad credentials (401). */
export function listCases(credentials: Credentials): fc.Arbitrary<BadRequest> {
  const make = (family: string, path: string, statuses: number[], headers: Record<string, string>): BadRequest => ({
    endpoint: 'list',
    family,
    method: 'GET',
    path,
    headers,
    body: undefined,
    expect: { kind: 'problem', statuses },
  });
  // The defect's pairs among valid ones, in any order.
  const badQuery = fc.record({ base, defect: listDefect, noise: harmlessHeaders }).chain(({ base, defect, noise }) =>
    validPairs(defect.name)
      .chain((valid) => fc.shuffledSubarray([...valid, ...defect.pairs], { minLength: valid.length + defect.pairs.length }))
      .map((pairs) => make(defect.family, `${base}${queryString(pairs)}`, [400], { ...noise, ...authHeaders(credentials) })),
  );
  const unknownKey = fc.record({ base, auth: badAuth }).map(({ base, auth }) => make('bad-auth', `${base}?limit=1`, [401], auth));
  return fc.oneof({ weight: 8, arbitrary: badQuery }, { weight: 1, arbitrary: unknownKey });
}

// ---- get ----

const UNACCEPTABLE = ['image/png', 'application/xml', 'application/json;q=0, text/plain;q=0, application/x-pem-file;q=0'];

/** GET /private-certificates/{serial}: bad serials (400/404), unknown certificates (404), an Accept it cannot meet (406), bad credentials (401). */
export function getCases(credentials: Credentials): fc.Arbitrary<BadRequest> {
  const auth = authHeaders(credentials);
  const make = (family: string, path: string, statuses: number[], headers: Record<string, string>): BadRequest => ({
    endpoint: 'get',
    family,
    method: 'GET',
    path,
    headers,
    body: undefined,
    expect: { kind: 'problem', statuses },
  });
  return fc.oneof(
    fc.record({ base, seg: badSerialSegment, noise: harmlessHeaders }).map(({ base, seg, noise }) => make('bad-serial', `${base}/${seg}`, [400, 404], { ...noise, ...auth })),
    // The query of a single certificate is not read: only the serial decides.
    fc.record({ base, serial: unknownSerial, q: fc.constantFrom('', '?x=1', '?serial=..%2F..', '?a=1&a=2') }).map(({ base, serial, q }) =>
      make('unknown-certificate', `${base}/${serial}${q}`, [404], auth),
    ),
    fc.record({ base, serial: unknownSerial, accept: fc.constantFrom(...UNACCEPTABLE) }).map(({ base, serial, accept }) =>
      make('not-acceptable', `${base}/${serial}`, [406], { ...auth, Accept: accept }),
    ),
    fc.record({ base, serial: unknownSerial, auth: badAuth }).map(({ base, serial, auth }) => make('bad-auth', `${base}/${serial}`, [401], auth)),
  );
}
