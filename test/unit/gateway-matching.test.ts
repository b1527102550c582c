import { ConfigError } from '../../src/config';
import { AllowList } from '../../src/gateway/allow-list';
import { isPlainHttpOffHost } from '../../src/gateway/ca-trust';
import { escapeDnValue } from '../../src/gateway/distinguished-name';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';
import { normalizeRequestTarget } from '../../src/gateway/request-target';

const BASE = { GATEWAY_UPSTREAM: 'http://127.0.0.1:3000', GATEWAY_TLS_CERT_FILE: 'g.crt', GATEWAY_TLS_KEY_FILE: 'g.key' };

describe('normalizeRequestTarget', () => {
  it.each([
    ['/a/b/c/./../../g', '/a/g'], // RFC 3986, 5.4.2
    ['/mid/content=5/../6', '/mid/6'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/..', '/'],
    ['//a///b//', '/a/b/'],
    ['/%7e%41%2d', '/~A-'],
    ['/a%3bb/%c3%a9', '/a%3Bb/%C3%A9'],
    ['/a|b', '/a%7Cb'],
    ['/a;v=1/b', '/a;v=1/b'],
  ])('normalises %s to %s', (target, path) => {
    expect(normalizeRequestTarget(target)).toEqual({ ok: true, path, query: '' });
  });

  it('keeps the query string exactly as sent and unwraps the absolute form', () => {
    expect(normalizeRequestTarget('/a/../b?x=%2e%2e/&y')).toEqual({ ok: true, path: '/b', query: '?x=%2e%2e/&y' });
    expect(normalizeRequestTarget('HTTPS://user@evil:1/a?q')).toEqual({ ok: true, path: '/a', query: '?q' });
    expect(normalizeRequestTarget('http://evil?q')).toEqual({ ok: true, path: '/', query: '?q' });
  });

  it.each(['/a%2fb', '/a%5Cb', '/a\\b', '/a%00', '/a%7F', '/a%', '/a%g1', '/a%252F', '/%C0%AE', '/%E2%82', '/%ED%A0%80', '/..;/a', '/.%3Bx/a', '/a#b', '*', 'example.com:443', 'ftp://x/a'])(
    'refuses %s',
    (target) => {
      expect(normalizeRequestTarget(target).ok).toBe(false);
    },
  );
});

describe('AllowList', () => {
  const list = (text: string, caseInsensitive = false, allowUnlisted = false) => AllowList.parse(text, { caseInsensitive, allowUnlisted });

  it('matches whole segments, the longest rule first, ignoring ;parameters', () => {
    const rules = list('/api/=acme|globex,/api/admin=root');
    expect(rules.decide('/api', 'acme')).toEqual({ allowed: true });
    expect(rules.decide('/api/admin/x', 'acme')).toEqual({ allowed: false, reason: 'account-not-allowed', prefix: '/api/admin' });
    expect(rules.decide('/api/admin;x/y', 'acme')).toEqual({ allowed: false, reason: 'account-not-allowed', prefix: '/api/admin' });
    expect(rules.decide('/api-v2/x', 'acme')).toEqual({ allowed: false, reason: 'path-not-allowed' });
    expect(rules.decide('/api/x', undefined)).toEqual({ allowed: false, reason: 'account-not-allowed', prefix: '/api/' });
  });

  it('folds ASCII case only when asked, and lets unlisted paths through only when asked', () => {
    expect(list('/Acme/=acme').decide('/acme/x', 'globex').allowed).toBe(false);
    expect(list('/Acme/=acme', true).decide('/ACME/x', 'globex')).toEqual({ allowed: false, reason: 'account-not-allowed', prefix: '/Acme/' });
    expect(list('/acme/=acme', false, true).decide('/other', 'globex')).toEqual({ allowed: true });
    expect(list('').decide('/anything', undefined)).toEqual({ allowed: true });
  });

  it.each(['acme=acme', '/acme/=', '/a/../b=x,/b=y', '/a%2Fb=x', '/a?x=1=acme', '/a/=x,/a=y'])('refuses the rule list %s at start, naming GATEWAY_ALLOW', (text) => {
    expect(() => loadGatewayConfig({ ...BASE, GATEWAY_ALLOW: text })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ ...BASE, GATEWAY_ALLOW: text })).toThrow(/GATEWAY_ALLOW/);
  });
});

describe('gateway configuration and helpers', () => {
  it('reads GATEWAY_CA_FINGERPRINT with colons and any case, and refuses one that is not SHA-256 hex', () => {
    const hex = 'AB'.repeat(32);
    expect(loadGatewayConfig({ ...BASE, GATEWAY_CA_FINGERPRINT: hex.match(/../g)!.join(':') }).GATEWAY_CA_FINGERPRINT).toBe('ab'.repeat(32));
    expect(() => loadGatewayConfig({ ...BASE, GATEWAY_CA_FINGERPRINT: 'abcd' })).toThrow(/GATEWAY_CA_FINGERPRINT/);
  });

  it('escapes DN values as RFC 4514 with \\XX for everything outside printable ASCII', () => {
    expect(escapeDnValue('#a, b+c ')).toBe('\\#a\\, b\\+c\\ ');
    expect(escapeDnValue('a\u0000b\nc')).toBe('a\\00b\\0Ac');
    expect(escapeDnValue('€')).toBe('\\E2\\82\\AC');
  });

  it.each([
    ['http://ca.internal:8080', true],
    ['http://10.0.0.5', true],
    ['http://127.0.0.1:8080', false],
    ['http://localhost:8080', false],
    ['http://[::1]:8080', false],
    ['https://ca.internal', false],
  ])('calls %s plain HTTP off the host: %s', (url, expected) => {
    expect(isPlainHttpOffHost(url)).toBe(expected);
  });
});
