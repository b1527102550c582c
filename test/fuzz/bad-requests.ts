import fc from 'fast-check';
import { getCases, listCases, revokeCases } from './certificate-cases';
import { keyCreateCases, keyDisableCases } from './key-cases';
import { ocspGetCases, ocspPostCases } from './ocsp-cases';
import type { BadRequest, Credentials, Endpoint } from './request-case';
import { signCases } from './sign-cases';

/**
 * Bad requests for every endpoint, as fast-check arbitraries and as seeded samples. Transport-free:
 * the jest fuzz suite sends them in-process, the soak script over real HTTP to live servers. Nothing
 * generated here is a valid request: see each endpoint's generator for what must come back.
 *
 *   for (const req of iterateCases('sign', seed, 10_000, credentials)) {
 *     const answer = await sendRequest(target, req);
 *     const violations = checkAnswer(req, answer, { secrets: [credentials.appToken] });
 *   }
 */
export function badRequests(endpoint: Endpoint, credentials: Credentials): fc.Arbitrary<BadRequest> {
  switch (endpoint) {
    case 'sign':
      return signCases(credentials);
    case 'revoke':
      return revokeCases(credentials);
    case 'list':
      return listCases(credentials);
    case 'get':
      return getCases(credentials);
    case 'keys-create':
      return keyCreateCases(credentials);
    case 'keys-disable':
      return keyDisableCases(credentials);
    case 'ocsp-get':
      return ocspGetCases();
    case 'ocsp-post':
      return ocspPostCases();
  }
}

/** The seed of case `index` in a run seeded with `seed` (each case reproducible on its own). */
export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x01000193) + Math.imul(index + 1, 0x9e3779b1)) | 0;
}

/**
 * `count` cases for one endpoint, generated one at a time (a soak run of 10,000 cases does not hold
 * them all, some are over 1 MiB). Deterministic: the same seed gives the same cases; case i alone is
 * `sampleCase(endpoint, caseSeed(seed, i), credentials)`.
 */
export function* iterateCases(endpoint: Endpoint, seed: number, count: number, credentials: Credentials): Generator<BadRequest> {
  const arbitrary = badRequests(endpoint, credentials);
  for (let i = 0; i < count; i++) yield fc.sample(arbitrary, { seed: caseSeed(seed, i), numRuns: 1 })[0];
}

export function sampleCase(endpoint: Endpoint, seed: number, credentials: Credentials): BadRequest {
  return fc.sample(badRequests(endpoint, credentials), { seed, numRuns: 1 })[0];
}

export function sampleCases(endpoint: Endpoint, seed: number, count: number, credentials: Credentials): BadRequest[] {
  return [...iterateCases(endpoint, seed, count, credentials)];
}

export { checkAnswer, limitStatusesFor, ocspStatusOf } from './check-answer';
export { ENDPOINTS, refusedByHttpParser, type Answer, type BadRequest, type Credentials, type Endpoint, type Expectation } from './request-case';
export { sendRequest, type Target } from './send-request';
