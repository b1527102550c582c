import fc from 'fast-check';
import { MAX_CSR_BYTES } from '../../src/domain/csr-policy';
import { authHeaders, badAuth, harmlessHeaders, WRONG_CONTENT_TYPES } from './common-cases';
import { ACCEPTABLE_CSRS } from './csr-fixtures';
import { brokenCsrBody, oversized } from './csr-mutations';
import type { BadRequest, Credentials } from './request-case';

const SIGN_PATHS = ['/private-certificates/sign', '/api/edge/private-certificates/sign'];
const PEM_TYPES = ['text/plain', 'application/x-pem-file', 'application/pkcs10', 'text/plain; charset=utf-8', 'TEXT/PLAIN; charset="US-ASCII"'];

/** Accept headers no answer of the sign endpoint meets. */
const UNACCEPTABLE = ['image/png', 'application/xml', 'text/html', 'application/json;q=0, text/plain;q=0, application/x-pem-file;q=0'];

/** What a sign request with this body must get: 413 past the limit, else a 400 refusal. */
const refusal = (body: Buffer) => (body.length > MAX_CSR_BYTES ? [413] : [400]);

/**
 * POST /private-certificates/sign requests that must be refused, with credentials allowed to sign:
 * broken CSRs (400), bodies over the limit (413), a CSR the service would sign but sent with a media
 * type or charset it does not accept (415), unknown credentials (401), an Accept it cannot meet (406).
 */
export function signCases(credentials: Credentials): fc.Arbitrary<BadRequest> {
  const auth = authHeaders(credentials);
  const make = (family: string, path: string, headers: Record<string, string>, body: Buffer, statuses: number[]): BadRequest => ({
    endpoint: 'sign',
    family,
    method: 'POST',
    path,
    headers,
    body,
    expect: { kind: 'problem', statuses },
  });
  const path = fc.constantFrom(...SIGN_PATHS);
  const goodCsr = fc.constantFrom(...ACCEPTABLE_CSRS).map((c) => Buffer.from(c.pem));

  const broken = fc.record({ path, csr: brokenCsrBody, pemType: fc.constantFrom(...PEM_TYPES), noise: harmlessHeaders }).map(({ path, csr, pemType, noise }) =>
    make(csr.family, path, { ...noise, ...auth, 'Content-Type': csr.der ? 'application/pkcs10' : pemType }, csr.body, refusal(csr.body)),
  );
  const tooLarge = fc.record({ path, csr: oversized, pemType: fc.constantFrom(...PEM_TYPES) }).map(({ path, csr, pemType }) =>
    make(csr.family, path, { ...auth, 'Content-Type': pemType }, csr.body, [413]),
  );
  // A wrong or missing media type; or an accepted one with a content coding the service does not take.
  const mediaType = fc
    .record({ path, csr: goodCsr, type: fc.option(fc.constantFrom(...WRONG_CONTENT_TYPES), { nil: undefined }), gzip: fc.boolean() })
    .map(({ path, csr, type, gzip }) => {
      const headers: Record<string, string> = { ...auth };
      if (type !== undefined) headers['Content-Type'] = type;
      if (gzip) Object.assign(headers, { 'Content-Type': type ?? 'text/plain', 'Content-Encoding': 'gzip' });
      return make('media-type', path, headers, csr, [415]);
    });
  const unknownKey = fc.record({ path, csr: goodCsr, auth: badAuth }).map(({ path, csr, auth }) =>
    make('bad-auth', path, { ...auth, 'Content-Type': 'text/plain' }, csr, [401]),
  );
  const notAcceptable = fc.record({ path, csr: goodCsr, accept: fc.constantFrom(...UNACCEPTABLE) }).map(({ path, csr, accept }) =>
    make('not-acceptable', path, { ...auth, 'Content-Type': 'text/plain', Accept: accept }, csr, [406]),
  );
  return fc.oneof(
    { weight: 6, arbitrary: broken },
    { weight: 1, arbitrary: tooLarge },
    { weight: 2, arbitrary: mediaType },
    { weight: 1, arbitrary: unknownKey },
    { weight: 1, arbitrary: notAcceptable },
  );
}
