import { describePkcs11Uri, parsePkcs11Uri, Pkcs11UriError } from '../../src/ca/pkcs11/pkcs11-uri';

describe('PKCS#11 URIs (RFC 7512)', () => {
  it('reads token, object, percent-encoded id, module-path and pin-value', () => {
    const uri = parsePkcs11Uri('pkcs11:token=mtls%20ca;object=ca-key;id=%01%02%ff;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=12%2634');
    expect(uri).toEqual({
      token: 'mtls ca',
      object: 'ca-key',
      id: Buffer.from([1, 2, 255]),
      modulePath: '/usr/lib/softhsm/libsofthsm2.so',
      pinValue: '12&34',
      serial: undefined,
      manufacturer: undefined,
      model: undefined,
      slotId: undefined,
      pinFile: undefined,
    });
  });

  it('reads pin-source as a file: URI, slot-id and serial', () => {
    expect(parsePkcs11Uri('pkcs11:serial=abc;slot-id=7;id=%aa?module-path=/m.so&pin-source=file:/run/secrets/pin')).toMatchObject({
      serial: 'abc',
      slotId: 7,
      id: Buffer.from([0xaa]),
      pinFile: '/run/secrets/pin',
    });
    expect(parsePkcs11Uri('pkcs11:token=t;object=k?pin-source=file:///run/pin&module-path=/m.so').pinFile).toBe('/run/pin');
  });

  it.each([
    ['not a pkcs11 URI', 'https://example.com', /must start with "pkcs11:"/],
    ['an unknown attribute', 'pkcs11:token=t;object=k;colour=red?module-path=/m.so', /unknown attribute "colour"/],
    ['an unsupported RFC 7512 attribute', 'pkcs11:token=t;object=k;library-version=1?module-path=/m.so', /"library-version" is not supported/],
    ['a duplicate attribute', 'pkcs11:token=t;token=u;object=k?module-path=/m.so', /"token" is given twice/],
    ['a duplicate query attribute', 'pkcs11:token=t;object=k?module-path=/m.so&module-path=/n.so', /"module-path" is given twice/],
    ['a query attribute in the path', 'pkcs11:token=t;object=k;pin-value=1?module-path=/m.so', /"pin-value" belongs in the query/],
    ['a path attribute in the query', 'pkcs11:token=t?object=k&module-path=/m.so', /"object" belongs in the path/],
    ['a broken percent-encoding', 'pkcs11:token=t;object=k;id=%0g?module-path=/m.so', /id has a "%" not followed by two hex digits/],
    ['no module-path', 'pkcs11:token=t;object=k', /module-path is required/],
    ['no token', 'pkcs11:object=k?module-path=/m.so', /name the token/],
    ['no key', 'pkcs11:token=t?module-path=/m.so', /name the key/],
    ['a public key type', 'pkcs11:token=t;object=k;type=public?module-path=/m.so', /type=public/],
    ['pin-source not a file', 'pkcs11:token=t;object=k?module-path=/m.so&pin-source=https://pin', /pin-source must be a file: URI/],
    ['both pin-value and pin-source', 'pkcs11:token=t;object=k?module-path=/m.so&pin-value=1&pin-source=file:/p', /not both/],
    ['an attribute without a value', 'pkcs11:token;object=k?module-path=/m.so', /an attribute of the path is not name=value/],
  ])('refuses %s', (_case, uri, message) => {
    expect(() => parsePkcs11Uri(uri)).toThrow(Pkcs11UriError);
    expect(() => parsePkcs11Uri(uri)).toThrow(message);
  });

  it('never echoes a PIN in its messages', () => {
    expect(() => parsePkcs11Uri('pkcs11:token=t;object=k?module-path=/m.so&pin-value4321')).toThrow(/^(?!.*4321)/);
  });

  it.each([
    ['an unencoded "&" in pin-value', 'pkcs11:token=t;object=k?module-path=/m.so&pin-value=12&s3cr3t=9'],
    ['an unencoded ";" in a misplaced pin-value', 'pkcs11:token=t;object=k;pin-value=12;s3cr3t=9?module-path=/m.so'],
  ])('never echoes a piece of a PIN that looks like another attribute: %s', (_, uri) => {
    expect(() => parsePkcs11Uri(uri)).toThrow(Pkcs11UriError);
    expect(() => parsePkcs11Uri(uri)).toThrow(/^(?!.*s3cr3t)/);
  });

  it('describes a URI without its PIN', () => {
    const text = describePkcs11Uri(parsePkcs11Uri('pkcs11:token=t;object=k;id=%01?module-path=/m.so&pin-value=secret-pin'));
    expect(text).toBe('pkcs11:token=t;object=k;id=%01?module-path=/m.so');
  });
});
