import fc from 'fast-check';
import { NAME_PATTERN } from '../../src/domain/csr-policy';
import { PERMISSION_OR_ROLE } from '../../src/domain/permissions';
import { authHeaders, badAuth, badSerialSegment, brokenJson, harmlessHeaders, WRONG_CONTENT_TYPES } from './common-cases';
import type { BadRequest, Credentials } from './request-case';

const MAX_KEY_BODY = 16 * 1024;
const VALID_KEY = { account: 'acme', permissions: ['certificates:read'] };

const badAccount: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('', '.acme', '-acme', '_acme', 'ac me', 'acme/..', '../etc/passwd', 'a'.repeat(65), 'acm\u00e9', 'acme\u0000', 'acme\n', '\u202eemca', 'ａｃｍｅ'),
  fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => !NAME_PATTERN.test(s)),
  fc.constantFrom<unknown>(1, 0, null, true, [], {}, ['acme'], { name: 'acme' }),
);

const badPermissions: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>([], ['root'], ['ADMIN'], ['admin '], [' admin'], ['role:'], ['role:root'], ['certificates:*'], [1], [null], [['admin']], 'admin', null, {}, 1, true),
  fc.integer({ min: 17, max: 200 }).map((n) => Array.from({ length: n }, () => 'certificates:read')),
  fc.array(fc.string({ maxLength: 30 }).filter((s) => !PERMISSION_OR_ROLE.includes(s)), { minLength: 1, maxLength: 5 }),
);

/** A key-creation body that is JSON but not a valid key: one defect on an otherwise valid body. */
const badKeyJson: fc.Arbitrary<{ family: string; body: Buffer }> = fc.oneof(
  badAccount.map((account) => ({ family: 'bad-account', body: Buffer.from(JSON.stringify({ ...VALID_KEY, account })) })),
  badPermissions.map((permissions) => ({ family: 'bad-permissions', body: Buffer.from(JSON.stringify({ ...VALID_KEY, permissions })) })),
  fc.constantFrom('account', 'permissions').map((k) => ({ family: 'missing-field', body: Buffer.from(JSON.stringify({ ...VALID_KEY, [k]: undefined })) })),
  fc.constantFrom('appKey', 'appToken', 'createdBy', 'disabledAt', 'tokenHash', 'Account', 'constructor', 'prototype').map((k) => ({
    family: 'extra-field',
    body: Buffer.from(JSON.stringify({ ...VALID_KEY, [k]: 'x' })),
  })),
  fc.constant({ family: 'extra-field', body: Buffer.from('{"account":"acme","permissions":["admin"],"__proto__":{"admin":true}}') }),
  badAccount.map((account) => ({ family: 'duplicate-field', body: Buffer.from(`{"account":"acme","permissions":["certificates:read"],"account":${JSON.stringify(account)}}`) })),
  fc.constantFrom('[]', '"acme"', '1', 'null', 'true', '[{"account":"acme","permissions":["admin"]}]').map((s) => ({ family: 'not-an-object', body: Buffer.from(s) })),
  fc.constant({ family: 'empty-body', body: Buffer.alloc(0) }),
  brokenJson.map((body) => ({ family: 'broken-json', body })),
);

const JSON_WRONG_CHARSETS = ['application/json; charset=utf-16', 'application/json; charset=UTF-32BE', 'application/json; charset=ebcdic', 'application/json; charset="utf-16le"'];

/** POST /keys (admin credentials): invalid bodies (400; 413 past the limit), wrong media types (415), bad credentials (401). */
export function keyCreateCases(credentials: Credentials): fc.Arbitrary<BadRequest> {
  const make = (family: string, headers: Record<string, string>, body: Buffer, statuses: number[]): BadRequest => ({
    endpoint: 'keys-create',
    family,
    method: 'POST',
    path: '/keys',
    headers,
    body,
    expect: { kind: 'problem', statuses },
  });
  const valid = Buffer.from(JSON.stringify(VALID_KEY));
  const wrongType = fc.constantFrom(...WRONG_CONTENT_TYPES.filter((t) => t !== 'application/json'), ...JSON_WRONG_CHARSETS);
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ json: badKeyJson, noise: harmlessHeaders }).map(({ json, noise }) =>
      make(json.family, { ...noise, ...authHeaders(credentials), 'Content-Type': 'application/json' }, json.body, json.body.length > MAX_KEY_BODY ? [413] : [400]),
    ) },
    { weight: 2, arbitrary: fc.record({ type: fc.option(wrongType, { nil: undefined }), gzip: fc.boolean() }).map(({ type, gzip }) => {
      const headers: Record<string, string> = { ...authHeaders(credentials) };
      if (type !== undefined) headers['Content-Type'] = type;
      if (gzip) Object.assign(headers, { 'Content-Type': type ?? 'application/json', 'Content-Encoding': 'gzip' });
      return make('media-type', headers, valid, [415]);
    }) },
    { weight: 1, arbitrary: badAuth.map((auth) => make('bad-auth', { ...auth, 'Content-Type': 'application/json' }, valid, [401])) },
  );
}

/** DELETE /keys/{appKey}: malformed names (400/404), unknown keys (404), the caller's own key (409), bad credentials (401). */
export function keyDisableCases(credentials: Credentials): fc.Arbitrary<BadRequest> {
  const make = (family: string, path: string, statuses: number[], headers: Record<string, string> = authHeaders(credentials)): BadRequest => ({
    endpoint: 'keys-disable',
    family,
    method: 'DELETE',
    path,
    headers,
    body: undefined,
    expect: { kind: 'problem', statuses },
  });
  return fc.oneof(
    fc.record({ seg: fc.oneof(badSerialSegment, fc.constantFrom('..%2F..%2Fkeys', 'k'.repeat(129), '%2E%2E', 'key%0A', '*', '%2A')), noise: harmlessHeaders }).map(({ seg, noise }) =>
      make('bad-app-key', `/keys/${seg}`, [400, 404], { ...noise, ...authHeaders(credentials) }),
    ),
    fc.stringMatching(/^[A-Za-z0-9._-]{1,60}$/).map((k) => make('unknown-key', `/keys/nx-${k}`, [404])),
    fc.constantFrom('', '/', '?appKey=x').map((rest) => make('no-key', `/keys${rest}`, [404, 405])),
    fc.constant(make('own-key', `/keys/${encodeURIComponent(credentials.appKey)}`, [409])),
    badAuth.map((auth) => make('bad-auth', '/keys/nx-some-key', [401], auth)),
  );
}
