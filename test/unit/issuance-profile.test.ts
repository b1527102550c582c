import { createHash, webcrypto } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import {
  AuthorityInfoAccessExtension,
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  CRLDistributionPointsExtension,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
} from '@peculiar/x509';
import { loadOrCreateCa } from '../../src/ca/ca-keystore';
import type { CertificateAuthority } from '../../src/ca/certificate-authority';
import { Issuer } from '../../src/ca/issuer';
import { systemClock } from '../../src/domain/clock';
import { checkCertificateRequest, csrDerFromBody } from '../../src/domain/csr-policy';
import { IssuanceProfile } from '../../src/domain/issuance-profile';
import { randomSerialSource } from '../../src/domain/serial-number';
import { fixture, openssl, tempDir } from '../helpers/openssl';

const now = new Date('2026-01-10T12:00:00.500Z');
const profile = (over: Partial<ConstructorParameters<typeof IssuanceProfile>[0]> = {}) =>
  new IssuanceProfile({ validityDays: 365, maxValidityDays: 825, backdateSeconds: 300, publicBaseUrl: 'https://ca.example', ...over });

describe('the issuance profile', () => {
  it('backdates notBefore by the skew and truncates to seconds', () => {
    const v = profile().validity(now, new Date('2036-01-01T00:00:00Z'));
    expect(v.notBefore.toISOString()).toBe('2026-01-10T11:55:00.000Z');
    expect(v.notAfter.toISOString()).toBe('2027-01-10T12:00:00.000Z');
  });

  it('caps the validity by CERT_MAX_VALIDITY_DAYS', () => {
    const v = profile({ validityDays: 1000, maxValidityDays: 30 }).validity(now, new Date('2036-01-01T00:00:00Z'));
    expect(v.notAfter.toISOString()).toBe('2026-02-09T12:00:00.000Z');
  });

  it("caps the validity by the CA's own notAfter", () => {
    const caNotAfter = new Date('2026-03-01T00:00:00Z');
    expect(profile().validity(now, caNotAfter).notAfter.toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });

  it('points at the CRL and the CA certificate under the public base URL', () => {
    expect(profile().crlUrl).toBe('https://ca.example/crl');
    expect(profile().caIssuersUrl).toBe('https://ca.example/ca.crt');
  });
});

/** The extension OIDs every client certificate carries, in this order, and no others. */
const EXTENSIONS = [
  ['basicConstraints', '2.5.29.19'],
  ['keyUsage', '2.5.29.15'],
  ['extKeyUsage', '2.5.29.37'],
  ['subjectKeyIdentifier', '2.5.29.14'],
  ['authorityKeyIdentifier', '2.5.29.35'],
  ['cRLDistributionPoints', '2.5.29.31'],
  ['authorityInfoAccess', '1.3.6.1.5.5.7.1.1'],
] as const;

/** RFC 5280 method 1, computed here without the code under test: SHA-1 of the subjectPublicKey bits. */
function expectedKeyId(spkiDer: ArrayBuffer): string {
  return createHash('sha1').update(Buffer.from(AsnConvert.parse(spkiDer, SubjectPublicKeyInfo).subjectPublicKey)).digest('hex');
}

describe('the extensions of an issued client certificate', () => {
  let ca: CertificateAuthority;
  let dir: string;
  const p = profile();
  beforeAll(async () => {
    dir = await tempDir();
    ({ ca } = await loadOrCreateCa(
      { dataDir: dir, subject: 'CN=Profile Test Root,O=mtls-ca', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 },
      webcrypto as unknown as Crypto,
      systemClock,
      randomSerialSource,
    ));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  // The one issuance path (prepare → check → sign); the reference generator is compared byte for byte in certificate-template.test.ts.
  const issued = async (csrFixture: string, _path: 'issuer'): Promise<X509Certificate> => {
    const request = await checkCertificateRequest(csrDerFromBody(await fixture(csrFixture)));
    const issuer = new Issuer(ca, p);
    const prepared = issuer.prepare({ subjectDer: request.subjectDer, spkiDer: request.spkiDer, keyType: request.keyType }, randomSerialSource.next(), p.validity(now, ca.notAfter));
    return new X509Certificate(new Uint8Array((await issuer.sign(prepared)).der));
  };

  describe.each([
    ['an RSA key', 'vtex-rsa2048-sha512.csr', KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, 'Digital Signature, Key Encipherment'],
    ['an EC key', 'ec-p256.csr', KeyUsageFlags.digitalSignature, 'Digital Signature'],
  ])('for %s', (_name, csrFixture, usages, usageText) => {
    it.each(['issuer'] as const)('has exactly the profile extensions, with their values and criticality (%s path)', async (path_) => {
      const cert = await issued(csrFixture, path_);
      expect(cert.extensions.map((e) => e.type)).toEqual(EXTENSIONS.map(([, oid]) => oid));

      const bc = cert.getExtension(BasicConstraintsExtension)!;
      expect({ critical: bc.critical, ca: bc.ca, pathLength: bc.pathLength }).toEqual({ critical: true, ca: false, pathLength: undefined });

      const ku = cert.getExtension(KeyUsagesExtension)!;
      expect({ critical: ku.critical, usages: ku.usages }).toEqual({ critical: true, usages });

      const eku = cert.getExtension(ExtendedKeyUsageExtension)!;
      expect({ critical: eku.critical, usages: eku.usages }).toEqual({ critical: false, usages: ['1.3.6.1.5.5.7.3.2'] });

      const ski = cert.getExtension(SubjectKeyIdentifierExtension)!;
      expect(ski.critical).toBe(false);
      expect(ski.keyId).toBe(expectedKeyId(cert.publicKey.rawData));

      const aki = cert.getExtension(AuthorityKeyIdentifierExtension)!;
      expect(aki.critical).toBe(false);
      expect(aki.keyId).toBe(ca.certificate.getExtension(SubjectKeyIdentifierExtension)!.keyId);
      expect(aki.keyId).toBe(expectedKeyId(ca.certificate.publicKey.rawData));

      const crlDp = cert.getExtension(CRLDistributionPointsExtension)!;
      expect(crlDp.critical).toBe(false);
      expect(crlDp.distributionPoints.map((dp) => dp.distributionPoint?.fullName?.map((n) => n.uniformResourceIdentifier))).toEqual([['https://ca.example/crl']]);

      const aia = cert.getExtension(AuthorityInfoAccessExtension)!;
      expect(aia.critical).toBe(false);
      expect(aia.ocsp.map((n) => [n.type, n.value])).toEqual([['url', 'https://ca.example/ocsp']]);
      expect(aia.caIssuers.map((n) => [n.type, n.value])).toEqual([['url', 'https://ca.example/ca.crt']]);
    });

    it('reads the same to openssl', async () => {
      const file = path.join(dir, `${csrFixture}.crt`);
      await fs.writeFile(file, (await issued(csrFixture, 'issuer')).toString('pem'));
      const text = (await openssl(['x509', '-in', file, '-noout', '-text'])).stdout.replace(/[ \t]+/g, ' ');
      expect(text).toContain('X509v3 Basic Constraints: critical\n CA:FALSE\n');
      expect(text).toContain(`X509v3 Key Usage: critical\n ${usageText}\n`);
      expect(text).toContain('X509v3 Extended Key Usage: \n TLS Web Client Authentication\n');
      expect(text).toContain('URI:https://ca.example/crl');
      expect(text).toContain('OCSP - URI:https://ca.example/ocsp');
      expect(text).toContain('CA Issuers - URI:https://ca.example/ca.crt');
    });
  });
});
