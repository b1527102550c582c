import { checkCertificateRequest, csrDerFromBody } from '../../src/domain/csr-policy';
import { CaError } from '../../src/domain/errors';
import { decodeDirectoryString } from '../../src/domain/csr-reader';
import { NULL, objectIdentifier, octetString, sequence, smallInteger, tlv } from '../../src/domain/der';
import { OID } from '../../src/domain/oids';
import { signedCsr } from '../fuzz/signed-csr';
import { algorithmId, ecKey, handBuiltCsr, rsaKey } from '../helpers/hand-built-csr';
import { fixture } from '../helpers/openssl';

const check = async (file: string) => checkCertificateRequest(csrDerFromBody(await fixture(file)));

describe('the CSR policy', () => {
  it('takes subject, account and key from the VTEX-style CSR', async () => {
    const info = await check('vtex-rsa2048-sha512.csr');
    expect(info).toMatchObject({
      commonName: 'erp-connector',
      account: 'acme',
      subject: 'CN=erp-connector, OU=acme, L=Recife, ST=PE, C=BR',
      keyType: 'RSA',
      keyDescription: 'RSA-2048',
    });
    expect(info.publicKeySha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['ec-p256.csr', 'EC-P-256'],
    ['ec-p384.csr', 'EC-P-384'],
    ['ec-p521.csr', 'EC-P-521'],
    ['rsa4096.csr', 'RSA-4096'],
  ])('accepts %s (%s)', async (file, key) => {
    expect((await check(file)).keyDescription).toBe(key);
  });

  it('reads DER as well as PEM and gives the same result', async () => {
    const fromDer = await checkCertificateRequest(csrDerFromBody(await fixture('ec-p256.der')));
    const fromPem = await check('ec-p256.csr');
    expect(fromDer.spkiDer.equals(fromPem.spkiDer)).toBe(true);
    expect(fromDer.subjectDer.equals(fromPem.subjectDer)).toBe(true);
  });

  it('rejects trailing bytes after the CSR', async () => {
    const der = Buffer.concat([await fixture('ec-p256.der'), Buffer.from([0, 0])]);
    await expect(checkCertificateRequest(der)).rejects.toMatchObject({ kind: 'malformed-csr' });
  });

  it('refuses a CSR inside a second BEGIN/END pair instead of reading the inner block', async () => {
    const pem = (await fixture('ec-p256.csr')).toString('latin1');
    const nested = `-----BEGIN CERTIFICATE REQUEST-----\n${pem}-----END CERTIFICATE REQUEST-----\n`;
    expect(() => csrDerFromBody(Buffer.from(nested))).toThrow(expect.objectContaining({ kind: 'malformed-csr' }));
    const strayEnd = `${pem}-----END CERTIFICATE REQUEST-----\n`;
    expect(() => csrDerFromBody(Buffer.from(strayEnd))).toThrow(expect.objectContaining({ kind: 'malformed-csr' }));
    // Text after the one block, CRLF line ends and indentation stay accepted.
    expect(csrDerFromBody(Buffer.from(`${pem}\nissued for acme\n`)).length).toBeGreaterThan(0);
    expect(csrDerFromBody(Buffer.from(pem.replace(/\n/g, '\r\n'))).length).toBeGreaterThan(0);
  });

  it('rejects deeply nested garbage without crashing', async () => {
    const nested = Buffer.alloc(4000, 0x30);
    await expect(checkCertificateRequest(csrDerFromBody(nested))).rejects.toBeInstanceOf(CaError);
  });

  it('refuses an RSA key with non-NULL algorithm parameters (bytes that would be signed verbatim)', async () => {
    const good = await checkCertificateRequest(csrDerFromBody(await fixture('vtex-rsa2048-sha512.csr')));
    // Rewrite the rsaEncryption parameters NULL (05 00) of the key into an OCTET STRING (04 00): same length.
    const csr = Buffer.from(good.der);
    const at = csr.indexOf(Buffer.from('06092a864886f70d0101010500', 'hex'));
    expect(at).toBeGreaterThan(0);
    csr[at + 11] = 0x04;
    await expect(checkCertificateRequest(csr)).rejects.toMatchObject({ kind: 'key-not-allowed' });
  });
});

describe('subject string types', () => {
  it('accepts only the characters a PrintableString or IA5String may hold', () => {
    expect(decodeDirectoryString(0x13, Buffer.from('Acme Ltda.'))).toBe('Acme Ltda.');
    expect(decodeDirectoryString(0x13, Buffer.from('erp_connector'))).toBeNull();
    expect(decodeDirectoryString(0x16, Buffer.from([0x61, 0xe9]))).toBeNull();
    expect(decodeDirectoryString(0x14, Buffer.from('teletex'))).toBeNull();
    expect(decodeDirectoryString(0x0c, Buffer.from('São Paulo'))).toBe('São Paulo');
  });
});

describe('subject values in properly signed CSRs', () => {
  const rdn = (oid: string, tag: number, value: Buffer) => tlv(0x31, sequence(objectIdentifier(oid), tlv(tag, value)));
  const withLocality = (tag: number, hex: string) =>
    signedCsr({ subject: sequence(rdn('2.5.4.3', 0x0c, Buffer.from('erp')), rdn('2.5.4.11', 0x0c, Buffer.from('acme')), rdn('2.5.4.7', tag, Buffer.from(hex, 'hex'))) });

  it.each([
    ['a BMPString with a lone high surrogate', 0x1e, '0061d800'],
    ['a BMPString with a lone low surrogate', 0x1e, 'dc000061'],
    ['a UniversalString holding a surrogate code point', 0x1c, '0000d800'],
    ['the noncharacter U+FFFE', 0x1e, '0061fffe'],
    ['a line separator', 0x0c, 'e280a8'],
    ['a right-to-left override', 0x0c, '61e280ae62'],
    ['a first-strong isolate', 0x0c, 'e281a861'],
  ])('refuses %s', async (_name, tag, hex) => {
    await expect(checkCertificateRequest(withLocality(tag, hex))).rejects.toMatchObject({ kind: 'subject-not-allowed' });
  });

  it("refuses the OU of the service's own certificates (mtls-ca), reserved for its OCSP signers", async () => {
    const csr = signedCsr({ subject: sequence(rdn('2.5.4.3', 0x0c, Buffer.from('ocsp')), rdn('2.5.4.11', 0x0c, Buffer.from('mtls-ca'))) });
    await expect(checkCertificateRequest(csr)).rejects.toMatchObject({ kind: 'subject-not-allowed', detail: expect.stringContaining('reserved') });
  });

  it.each([
    ['an emoji as a surrogate pair in a BMPString', 0x1e, 'd83dde00'],
    ['São Paulo in a UTF8String', 0x0c, Buffer.from('São Paulo').toString('hex')],
    ['Recife in a UniversalString', 0x1c, '000000520000006500000063000000690000006600000065'],
  ])('accepts %s', async (_name, tag, hex) => {
    await expect(checkCertificateRequest(withLocality(tag, hex))).resolves.toMatchObject({ commonName: 'erp', account: 'acme' });
  });
});

describe('keys and signature algorithms in hand-built, properly signed CSRs', () => {
  const ec = ecKey('P-256');
  const rsa = rsaKey();
  const ecdsaSha256 = algorithmId(OID.ecdsaWithSHA256);
  const rsaSha256 = algorithmId(OID.sha256WithRSA, NULL);
  const refused = (csr: Buffer, kind: string, detail: RegExp) => expect(checkCertificateRequest(csr)).rejects.toMatchObject({ kind, detail: expect.stringMatching(detail) });

  it('accepts the forms openssl writes: an uncompressed point with ecdsa-with-SHA256, an RSA key with NULL or absent parameters', async () => {
    await expect(checkCertificateRequest(handBuiltCsr({ spki: ec.spki(ec.point('uncompressed')), signatureAlgorithm: ecdsaSha256, sign: ec.signEcdsa() }))).resolves.toMatchObject({ keyDescription: 'EC-P-256' });
    await expect(checkCertificateRequest(handBuiltCsr({ spki: rsa.spki, signatureAlgorithm: rsaSha256, sign: rsa.signPkcs1() }))).resolves.toMatchObject({ keyType: 'RSA' });
    await expect(checkCertificateRequest(handBuiltCsr({ spki: rsa.spki, signatureAlgorithm: algorithmId(OID.sha512WithRSA), sign: rsa.signPkcs1('sha512') }))).resolves.toMatchObject({ keyType: 'RSA' });
    await expect(checkCertificateRequest(handBuiltCsr({ spki: ec.spki(ec.point('uncompressed')), signatureAlgorithm: algorithmId(OID.ecdsaWithSHA384), sign: ec.signEcdsa('sha384') }))).resolves.toMatchObject({ keyType: 'EC' });
  });

  it.each(['hybrid', 'compressed'] as const)('refuses an EC key given as a %s point (RFC 5480: uncompressed only here)', async (form) => {
    await refused(handBuiltCsr({ spki: ec.spki(ec.point(form)), signatureAlgorithm: ecdsaSha256, sign: ec.signEcdsa() }), 'key-not-allowed', /uncompressed/);
  });

  it('refuses an uncompressed point of the wrong length for its curve, and the point at infinity', async () => {
    const p384 = ecKey('P-384');
    // A P-384 point labelled P-256.
    await refused(handBuiltCsr({ spki: ec.spki(p384.point('uncompressed')), signatureAlgorithm: ecdsaSha256, sign: p384.signEcdsa() }), 'key-not-allowed', /uncompressed P-256/);
    await refused(handBuiltCsr({ spki: ec.spki(Buffer.from([0x00])), signatureAlgorithm: ecdsaSha256, sign: ec.signEcdsa() }), 'key-not-allowed', /uncompressed/);
  });

  it('refuses a point that is not on the curve, and a coordinate at or above the field prime', async () => {
    const offCurve = ec.point('uncompressed');
    offCurve[offCurve.length - 1] ^= 0x01;
    await refused(handBuiltCsr({ spki: ec.spki(offCurve), signatureAlgorithm: ecdsaSha256, sign: ec.signEcdsa() }), 'key-not-allowed', /not a point on P-256/);
    const xAtP = Buffer.concat([Buffer.from([0x04]), Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex'), ec.y]);
    await refused(handBuiltCsr({ spki: ec.spki(xAtP), signatureAlgorithm: ecdsaSha256, sign: ec.signEcdsa() }), 'key-not-allowed', /not a point on P-256/);
  });

  it.each([
    ['explicit curve parameters', sequence(smallInteger(1)), 'key-not-allowed'],
    ['implicitCurve (NULL)', NULL, 'key-not-allowed'],
    ['a curve OID followed by more bytes', Buffer.concat([objectIdentifier(OID.p256), NULL]), 'malformed-csr'],
  ])('refuses EC key parameters that are not one namedCurve OID: %s', async (_name, params, kind) => {
    const csr = handBuiltCsr({ spki: ec.spki(ec.point('uncompressed'), params), signatureAlgorithm: ecdsaSha256, sign: ec.signEcdsa() });
    await expect(checkCertificateRequest(csr)).rejects.toMatchObject({ kind });
  });

  it('refuses an RSA key with an even modulus', async () => {
    // The fuzz signer's SPKI with the modulus's last byte made even (the signature cannot matter: refused first).
    const spki = Buffer.from(rsa.spki);
    const modulusEnd = spki.length - 5; // ... modulus, then INTEGER 65537 (02 03 01 00 01)
    expect(spki.subarray(modulusEnd).toString('hex')).toBe('0203010001');
    spki[modulusEnd - 1] &= 0xfe;
    await refused(handBuiltCsr({ spki, signatureAlgorithm: rsaSha256, sign: rsa.signPkcs1() }), 'key-not-allowed', /odd/);
  });

  it('refuses an RSA key with an ECDSA signature algorithm (signed PKCS#1 v1.5, which used to verify)', async () => {
    await refused(handBuiltCsr({ spki: rsa.spki, signatureAlgorithm: ecdsaSha256, sign: rsa.signPkcs1() }), 'csr-signature-invalid', /ecdsa-with-SHA256, which does not go with its RSA key/);
  });

  it('refuses an EC key with an RSA signature algorithm (signed ECDSA, which used to verify)', async () => {
    await refused(handBuiltCsr({ spki: ec.spki(ec.point('uncompressed')), signatureAlgorithm: rsaSha256, sign: ec.signEcdsa() }), 'csr-signature-invalid', /sha256WithRSAEncryption, which does not go with its EC key/);
  });

  it.each([
    ['NULL', NULL],
    ['an OCTET STRING', octetString(Buffer.from('garbage'))],
    ['a curve OID', objectIdentifier(OID.p256)],
  ])('refuses ecdsa-with-SHA256 with parameters (%s)', async (_name, params) => {
    await refused(handBuiltCsr({ spki: ec.spki(ec.point('uncompressed')), signatureAlgorithm: algorithmId(OID.ecdsaWithSHA256, params), sign: ec.signEcdsa() }), 'csr-signature-invalid', /no parameters/);
  });

  it.each([
    ['an INTEGER', smallInteger(5)],
    ['an empty SEQUENCE', sequence()],
    ['NULL with content', tlv(0x05, Buffer.from([0x00]))],
  ])('refuses sha256WithRSAEncryption with parameters other than NULL (%s)', async (_name, params) => {
    await refused(handBuiltCsr({ spki: rsa.spki, signatureAlgorithm: algorithmId(OID.sha256WithRSA, params), sign: rsa.signPkcs1() }), 'csr-signature-invalid', /NULL or absent/);
  });
});
