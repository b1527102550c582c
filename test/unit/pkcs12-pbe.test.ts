import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AuthenticatedSafe, CertBag, SafeContents } from '@peculiar/asn1-pfx';
import { EncryptedData } from '../../src/pkcs12/encrypted-data';
import { parsePfx } from '../../src/pkcs12/mac';
import { decryptPkcs12Pbe } from '../../src/pkcs12/pkcs12-pbe';

describe('PKCS#12 PBE decryption of an openssl -legacy bundle (RC2-40 certificate bag)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'p12pbe-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=legacy-bag',
      '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1'], { stdio: 'ignore' });
    execFileSync('openssl', ['pkcs12', '-export', '-legacy', '-inkey', join(dir, 'k.pem'), '-in', join(dir, 'c.pem'),
      '-passout', 'pass:pw', '-out', join(dir, 'b.p12')], { stdio: 'ignore' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('recovers the certificate openssl put in the RC2-40 bag, and a wrong password fails with a 400', () => {
    const pfx = parsePfx(readFileSync(join(dir, 'b.p12')));
    const safe = AsnConvert.parse(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer, AuthenticatedSafe);
    const encrypted = safe.find((ci) => ci.contentType === '1.2.840.113549.1.7.6')!;
    const eci = AsnConvert.parse(encrypted.content, EncryptedData).encryptedContentInfo;
    expect(eci.contentEncryptionAlgorithm.algorithm).toBe('1.2.840.113549.1.12.1.6');
    const data = Buffer.from(eci.encryptedContent!.value!.buffer);
    const plain = decryptPkcs12Pbe(eci.contentEncryptionAlgorithm.algorithm, eci.contentEncryptionAlgorithm.parameters!, 'pw', data);
    const bags = AsnConvert.parse(plain, SafeContents);
    const cert = AsnConvert.parse(bags[0].bagValue, CertBag);
    const der = Buffer.from(AsnConvert.parse(cert.certValue, OctetString).buffer);
    expect(new X509Certificate(der).subject).toBe('CN=legacy-bag');
    expect(new X509Certificate(der).raw.equals(new X509Certificate(readFileSync(join(dir, 'c.pem'))).raw)).toBe(true);
    expect(() => decryptPkcs12Pbe(eci.contentEncryptionAlgorithm.algorithm, eci.contentEncryptionAlgorithm.parameters!, 'wrong', data)).toThrow();
  });
});
