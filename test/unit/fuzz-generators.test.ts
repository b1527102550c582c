import { createHash } from 'node:crypto';
import { caseSeed, checkAnswer, ENDPOINTS, sampleCase, sampleCases, type Answer, type BadRequest } from '../fuzz/bad-requests';

const CREDENTIALS = { appKey: 'fuzz-key', appToken: 'fuzz-token-0123456789abcdefghijklmnopqrstuv' };

const problem = (status: number, extra: Record<string, unknown> = {}): Answer => ({
  status,
  headers: { 'content-type': 'application/problem+json; charset=utf-8' },
  body: Buffer.from(JSON.stringify({ type: 'urn:mtls-ca:problem:invalid-request', title: 'Invalid request', status, ...extra })),
});

const signCase: BadRequest = {
  endpoint: 'sign',
  family: 'test',
  method: 'POST',
  path: '/private-certificates/sign',
  headers: {},
  body: Buffer.from('x'),
  expect: { kind: 'problem', statuses: [400] },
};
const ocspCase: BadRequest = { ...signCase, endpoint: 'ocsp-post', path: '/ocsp', expect: { kind: 'ocsp', statuses: ['malformedRequest'] } };
const ocspAnswer = (status: number): Answer => ({ status: 200, headers: { 'content-type': 'application/ocsp-response' }, body: Buffer.from([0x30, 0x03, 0x0a, 0x01, status]) });

/** A request with its body replaced by a hash (comparing MiB bodies byte by byte in expect is slow). */
const digest = (req: BadRequest) => ({ ...req, body: req.body && createHash('sha256').update(req.body).digest('hex') });

describe('the fuzz generators', () => {
  it.each(ENDPOINTS)('are deterministic for %s: the same seed gives the same requests', (endpoint) => {
    const first = sampleCases(endpoint, 42, 20, CREDENTIALS).map(digest);
    expect(sampleCases(endpoint, 42, 20, CREDENTIALS).map(digest)).toEqual(first);
    expect(digest(sampleCase(endpoint, caseSeed(42, 7), CREDENTIALS))).toEqual(first[7]);
    expect(sampleCases(endpoint, 43, 20, CREDENTIALS).map(digest)).not.toEqual(first);
    for (const req of first) expect(req.endpoint).toBe(endpoint);
  });
});

describe('checkAnswer', () => {
  it('accepts the expected 4xx problem', () => {
    expect(checkAnswer(signCase, problem(400))).toEqual([]);
  });

  it.each([
    ['a 5xx', problem(500), /status 500/],
    ['a 2xx', { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('-----BEGIN CERTIFICATE-----') }, /status 200/],
    ['another 4xx than expected', problem(404), /status 404, expected 400/],
    ['a 4xx that is not problem+json', { ...problem(400), headers: { 'content-type': 'text/html' } }, /Content-Type/],
    ['a problem whose status differs', problem(400, { status: 404 }), /problem status 404/],
    ['a problem without a type', problem(400, { type: undefined }), /problem type/],
    ['a stack trace', problem(400, { detail: 'Error: x\n    at readCsr (/app/dist/domain/csr-reader.js:12:7)' }), /stack trace/],
    ['a secret', problem(400, { detail: `token ${CREDENTIALS.appToken}` }), /secret/],
    ['a huge problem', problem(400, { detail: 'x'.repeat(20_000) }), /bytes/],
  ])('flags %s', (_name, answer, message) => {
    expect(checkAnswer(signCase, answer, { secrets: [CREDENTIALS.appToken] }).join('\n')).toMatch(message);
  });

  it('lets request limits answer first, only when the request is big enough to meet one', () => {
    expect(checkAnswer(signCase, problem(429))).toEqual([]);
    expect(checkAnswer(signCase, problem(413))).not.toEqual([]);
    expect(checkAnswer({ ...signCase, body: Buffer.alloc(2000) }, problem(413))).toEqual([]);
    expect(checkAnswer({ ...signCase, path: `/private-certificates/sign?${'a'.repeat(100)}` }, problem(414))).toEqual([]);
  });

  it('wants an unsuccessful OCSP answer with the expected status from the OCSP endpoints', () => {
    expect(checkAnswer(ocspCase, ocspAnswer(1))).toEqual([]);
    expect(checkAnswer(ocspCase, ocspAnswer(6)).join()).toMatch(/unauthorized, expected malformedRequest/);
    expect(checkAnswer(ocspCase, ocspAnswer(3)).join()).toMatch(/tryLater/);
    expect(checkAnswer(ocspCase, { ...ocspAnswer(1), body: Buffer.from('garbage') }).join()).toMatch(/not an OCSPResponse/);
    expect(checkAnswer(ocspCase, problem(400)).join()).toMatch(/status 400/);
  });
});
