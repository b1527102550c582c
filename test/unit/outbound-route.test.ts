import { matchRoute, normalizeHost, normalizePathPrefix, parseOutboundTarget, pathUnder } from '../../src/domain/outbound-route';

describe('outbound route matching', () => {
  const routes = [
    { id: 'all', host: 'partner.example', port: 443, pathPrefix: '/' },
    { id: 'api', host: 'partner.example', port: 443, pathPrefix: '/api' },
    { id: 'v2', host: 'partner.example', port: 443, pathPrefix: '/api/v2' },
    { id: 'other-port', host: 'partner.example', port: 8443, pathPrefix: '/x' },
  ];
  const match = (url: string, scheme: 'https' | 'http' = 'https') => matchRoute(routes, parseOutboundTarget(url, scheme))?.id ?? null;

  it.each([
    ['https://partner.example/', 'all'],
    ['https://PARTNER.example./api', 'api'],
    ['https://partner.example:443/api/v2/x', 'v2'],
    ['https://partner.example/api/v2x', 'api'],
    ['https://partner.example/apix', 'all'],
    ['https://partner.example/api/../api/v2/y', 'v2'],
    ['https://partner.example/api/v3/../v2', 'v2'],
    ['https://partner.example//api//v2', 'v2'],
    ['https://partner.example/%61pi/v2', 'v2'],
    ['https://partner.example:8443/x/y', 'other-port'],
    ['https://partner.example:8443/y', null],
    ['https://partner.example.evil.test/', null],
    ['https://evilpartner.example/', null],
  ])('%s → %s', (url, id) => {
    expect(match(url)).toBe(id);
  });

  it('reads the egress proxy form: http:// means TLS to that host:port, 443 by default', () => {
    const t = parseOutboundTarget('http://partner.example:8443/x/y?q=1', 'http');
    expect(t.url.href).toBe('https://partner.example:8443/x/y?q=1');
    expect(parseOutboundTarget('http://partner.example/x', 'http').port).toBe(443);
    expect(parseOutboundTarget('https://[::1]:9/x', 'https').host).toBe('::1');
  });

  it.each([
    'http://partner.example/', 'ftp://partner.example/', 'https://user:pw@partner.example/', 'https://partner.example/a%2Fb', 'https://partner.example/#f', 'not a url',
  ])('refuses the target %s', (url) => {
    expect(() => parseOutboundTarget(url, 'https')).toThrow();
  });

  it('normalises hosts and prefixes, refusing what is not a host', () => {
    expect(normalizeHost('Partner.Example.')).toBe('partner.example');
    expect(normalizeHost('[2001:DB8::1]')).toBe('2001:db8::1');
    for (const bad of ['a/b', 'a:443', 'a b', '', '-a.example', 'a..b', 'user@a']) expect(() => normalizeHost(bad)).toThrow();
    expect(normalizePathPrefix('/api/v1/')).toBe('/api/v1');
    expect(normalizePathPrefix('/')).toBe('/');
    expect(normalizePathPrefix('//api/./v1')).toBe('/api/v1');
    expect(() => normalizePathPrefix('/a?b')).toThrow();
    expect(pathUnder('/api', '/api')).toBe(true);
    expect(pathUnder('/api', '/api-x')).toBe(false);
  });
});
