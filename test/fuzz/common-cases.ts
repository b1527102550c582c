import fc from 'fast-check';
import type { Credentials } from './request-case';

/** Pieces shared by the endpoint generators: credentials, path segments, media types, query strings. */

export function authHeaders(c: Credentials): Record<string, string> {
  return { 'X-API-AppKey': c.appKey, 'X-API-AppToken': c.appToken };
}

/** Header-safe text (node:http refuses CR, LF and characters above U+00FF in header values). */
const headerText = (max: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c === 0x7f ? 0x20 : c)), maxLength: max });

/**
 * Credentials that must be refused with 401. Only unknown keys (never the real key with a wrong token:
 * that would trip the wrong-token throttling of the very key the rest of the cases use).
 */
export const badAuth: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.constant({}),
  headerText(40).map((k) => ({ 'X-API-AppKey': `nx-${k}` })),
  headerText(40).map((t) => ({ 'X-API-AppToken': `t-${t}` })),
  fc.record({ k: fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/), t: headerText(80) }).map(({ k, t }) => ({ 'X-API-AppKey': `nx-${k}`, 'X-API-AppToken': `${t}x` })),
  fc.record({ k: fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/), t: headerText(80) }).map(({ k, t }) => ({ 'X-VTEX-API-AppKey': `nx-${k}`, 'X-VTEX-API-AppToken': `${t}x` })),
  fc.integer({ min: 257, max: 4000 }).map((n) => ({ 'X-API-AppKey': 'k'.repeat(n), 'X-API-AppToken': 't'.repeat(40) })),
  fc.integer({ min: 513, max: 4000 }).map((n) => ({ 'X-API-AppKey': 'nx-key', 'X-API-AppToken': 't'.repeat(n) })),
  fc.constant({ 'X-API-AppKey': 'nx-\u00ff\u00fe\u0080', 'X-API-AppToken': '\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9' }),
  fc.constant({ 'X-API-AppKey': '', 'X-API-AppToken': '' }),
);

/** Headers that change nothing for a correct service (request ids it must not trust, proxies it does not trust). */
export const harmlessHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      'X-Request-Id': headerText(300),
      'X-Forwarded-For': fc.constantFrom('127.0.0.1', '::1, 10.0.0.1', 'garbage', '999.999.999.999', ''),
      'Accept-Encoding': fc.constantFrom('gzip', 'br, deflate', '*', 'identity;q=0'),
      'Accept-Language': headerText(40),
    },
    { requiredKeys: [] },
  )
  .map((h) => h as Record<string, string>);

/** Media types no endpoint accepts for its body, and accepted ones with a charset none accepts. */
export const WRONG_CONTENT_TYPES = [
  'application/json',
  'application/octet-stream',
  'multipart/form-data; boundary=----x',
  'application/x-www-form-urlencoded',
  'text/html',
  'text/plainx',
  'text/plain, application/json',
  'text/*',
  '*/*',
  'application/pkcs10x',
  'application/pkcs7-mime',
  'text/plain; charset=utf-16',
  'text/plain; charset=UTF-16LE',
  'text/plain; charset=utf-32',
  'text/plain; charset="ucs-2"',
  'text/plain; charset=utf-7',
  'application/pkcs10; charset=koi8-r',
  'application/x-pem-file; charset=shift_jis',
  ';',
  '',
  '\u00e9\u00e9/\u00e9',
] as const;

/** A serial-number path segment (as sent on the wire) that names no certificate: traversal, NUL, unicode, huge. */
export const badSerialSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '..%2F..%2Fetc%2Fpasswd',
    '..%2f..%2fkeys',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '..',
    '.',
    '..;',
    '../../../etc/passwd',
    '..%5c..%5cwindows%5cwin.ini',
    '%00',
    'ABCD%00',
    '%00ABCD',
    '%',
    '%zz',
    '%c0%ae%c0%ae%2f',
    '%ef%bc%8f',
    '%EF%BC%A1%EF%BC%A2',
    '0',
    '00',
    '00%3A00',
    '%3A',
    'AB%3A%3ACD',
    '0x1234',
    '-1',
    '1e5',
    'AB%20CD',
    '%E2%80%AEDCBA',
    'sign',
    '%F0%9F%92%A9',
    '\u00e9\u00ff',
    '%2F',
    '%252e%252e%252f',
    ';jsessionid=1',
  ),
  fc.integer({ min: 41, max: 10_000 }).map((n) => 'A'.repeat(n)),
  fc.integer({ min: 2, max: 200 }).map((n) => Array.from({ length: n }, () => 'ab').join('%3A%3A')),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\u00e9'))),
  // well-formed but (with overwhelming probability) unknown serials
  fc.stringMatching(/^[0-9A-Fa-f]{1,40}$/),
  fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => Buffer.from(b).toString('hex').match(/../g)!.join('%3A')),
);

/** A query string from `name=value` pairs given already encoded. */
export function queryString(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`;
}

/** A string that is not JSON at all, or JSON that is cut, mis-encoded or absurdly nested. */
export const brokenJson: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.concat([Buffer.from('{'), Buffer.from(b)])),
  fc
    .constantFrom('{', '{"reason":', '{"account":"acme",}', "{'account':'acme'}", '{"a":1}}', 'NaN', '\u00ef\u00bb\u00bf{', '{"account":"\\ud800"', '{"account":"\\u0000\\uZZZZ"}')
    .map((s) => Buffer.from(s, 'latin1')),
  fc.integer({ min: 100, max: 5000 }).map((n) => Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}`)),
  fc.integer({ min: 100, max: 3000 }).map((n) => Buffer.from(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`)),
  fc.constant(Buffer.from('{"account":"acme","permissions":["admin"]}', 'utf16le')),
);
