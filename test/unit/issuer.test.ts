import { generateKeyPairSync, X509Certificate as NodeX509 } from 'node:crypto';
import { BasicConstraintsExtension, Name } from '@peculiar/x509';
import { IssuanceCheckError } from '../../src/ca/certificate-check';
import { tbsCertificate, type TbsCertificateParts } from '../../src/ca/certificate-template';
import { Issuer, type PreparedCertificate } from '../../src/ca/issuer';
import { encodeSubject } from '../../src/ca/subject-name';
import { sequence } from '../../src/domain/der';
import { IssuanceProfile } from '../../src/domain/issuance-profile';
import { CertificateAuthority } from '../../src/ca/certificate-authority';
import { CaError } from '../../src/domain/errors';
import { keyObjectCa } from '../helpers/key-ca';

const DAY = 86_400_000;

describe('issuance: prepare → check → sign', () => {
  let ca: CertificateAuthority;
  let issuer: Issuer;
  const profile = new IssuanceProfile({ validityDays: 365, maxValidityDays: 825, backdateSeconds: 300, publicBaseUrl: 'https://ca.example' });
  const spkiDer = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
  const request = { subjectDer: Buffer.from(new Name('CN=erp-connector,OU=acme,L=Recife,ST=PE,C=BR').toArrayBuffer()), spkiDer, keyType: 'EC' as const };
  const serial = Uint8Array.from([0x4d, ...Array(15).fill(7)]);
  let validity: { notBefore: Date; notAfter: Date };

  beforeAll(async () => {
    ({ ca } = await keyObjectCa('ECDSA-P256'));
    issuer = new Issuer(ca, profile);
    validity = profile.validity(new Date(), ca.notAfter);
  });

  /** A TBSCertificate as the issuer would build it, with some fields replaced. */
  const tbsWith = (change: Partial<TbsCertificateParts> = {}) =>
    tbsCertificate({
      serialNumber: serial,
      signatureAlgorithmDer: ca.signatureAlgorithmDer,
      issuerDer: ca.issuerDer,
      validity,
      subjectDer: encodeSubject({ C: 'BR', ST: 'PE', L: 'Recife', OU: 'acme', CN: 'erp-connector' }),
      spkiDer,
      extensions: profile.extensions(spkiDer, 'EC', ca.keyId).map((e) => Buffer.from(e.rawData)),
      ...change,
    });
  const goodExtensions = () => profile.extensions(spkiDer, 'EC', ca.keyId).map((e) => Buffer.from(e.rawData));

  it('re-encodes the subject in the order C, ST, L, O, OU, CN, and the prepared TBS is the one the check accepts', async () => {
    const prepared = issuer.prepare(request, serial, validity);
    expect(prepared.subjectDer.equals(encodeSubject({ CN: 'erp-connector', OU: 'acme', L: 'Recife', ST: 'PE', C: 'BR' }))).toBe(true);
    expect(prepared.tbs.equals(tbsWith())).toBe(true);
    expect(() => issuer.check(tbsWith(), request)).not.toThrow();
    const { der } = await issuer.sign(prepared);
    const cert = new NodeX509(der);
    expect(cert.subject).toBe('C=BR\nST=PE\nL=Recife\nOU=acme\nCN=erp-connector');
    expect(cert.verify(new NodeX509(ca.certificateDer).publicKey)).toBe(true);
  });

  it('signs a prepared certificate once, and nothing it did not prepare', async () => {
    const prepared = issuer.prepare(request, serial, validity);
    await issuer.sign(prepared);
    await expect(issuer.sign(prepared)).rejects.toThrow(/already signed/);
    await expect(issuer.sign({ ...prepared } as PreparedCertificate)).rejects.toThrow(IssuanceCheckError);
    await expect(new Issuer(ca, profile).sign(issuer.prepare(request, serial, validity))).rejects.toThrow(/not prepared by this issuer/);
  });

  it('answers not-ready (503) when the signer fails, and issues nothing', async () => {
    const failing = new CertificateAuthority({ certificate: ca.certificate, chain: [], signer: { ...ca.signer, sign: () => Promise.reject(new Error('CKR_DEVICE_REMOVED')) } }, ca.keyId);
    const flaky = new Issuer(failing, profile);
    const error = await flaky.sign(flaky.prepare(request, serial, validity)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CaError);
    expect(error).toMatchObject({ kind: 'not-ready', status: 503 });
  });

  it('refuses to prepare a certificate that outlives the CA or the profile', () => {
    expect(() => issuer.prepare(request, serial, { notBefore: new Date(ca.notAfter.getTime() - 10 * DAY), notAfter: new Date(ca.notAfter.getTime() + 1000) })).toThrow(/outlive the CA/);
    const long = { notBefore: validity.notBefore, notAfter: new Date(validity.notBefore.getTime() + 826 * DAY) };
    expect(() => issuer.prepare(request, serial, long)).toThrow(/longer than the profile's maximum/);
    expect(() => issuer.prepare(request, serial, { notBefore: validity.notAfter, notAfter: validity.notBefore })).toThrow(/notAfter is not after notBefore/);
  });

  it.each([
    ['a serial of 21 octets', () => tbsWith({ serialNumber: Uint8Array.from(Array(21).fill(0x11)) }), /1 to 20 octets/],
    ['a zero serial', () => tbsWith({ serialNumber: Uint8Array.from([0]) }), /serial number is zero/],
    ['another issuer', () => tbsWith({ issuerDer: Buffer.from(new Name('CN=Someone Else').toArrayBuffer()) }), /issuer is not the CA's subject/],
    ['another signature algorithm', () => tbsWith({ signatureAlgorithmDer: Buffer.from('300a06082a8648ce3d040303', 'hex') }), /signature algorithm/],
    ['a subject in CSR order (CN first)', () => tbsWith({ subjectDer: sequence(...[{ CN: 'app' }, { OU: 'acme' }].map((a) => encodeSubject(a).subarray(2))) }), /not in the order C, ST, L, O, OU, CN/],
    ['the CSR subject bytes copied (PrintableString)', () => tbsWith({ subjectDer: request.subjectDer }), /is not encoded as UTF8String/],
    ['a PrintableString CN', () => tbsWith({ subjectDer: Buffer.from('300f310d300b0603550403130461626364', 'hex') }), /CN is not encoded as UTF8String/],
    ['a subject without OU', () => tbsWith({ subjectDer: encodeSubject({ CN: 'app' }) }), /lacks CN or OU/],
    ['another public key', () => tbsWith({ spkiDer: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }) }), /not the requested one/],
    ['an extension missing', () => tbsWith({ extensions: goodExtensions().slice(0, -1) }), /extensions missing: 1\.3\.6\.1\.5\.5\.7\.1\.1/],
    ['an extension twice', () => tbsWith({ extensions: [...goodExtensions(), goodExtensions()[0]] }), /2\.5\.29\.19 appears twice/],
    ['an extension outside the profile', () => tbsWith({ extensions: [...goodExtensions(), Buffer.from('300c06032a0304040530030101ff', 'hex')] }), /1\.2\.3\.4 is not in the profile/],
    ['basicConstraints CA:TRUE', () => tbsWith({ extensions: [Buffer.from(new BasicConstraintsExtension(true, undefined, true).rawData), ...goodExtensions().slice(1)] }), /2\.5\.29\.19 is not the profile's/],
  ])('refuses %s', (_case, build, message) => {
    expect(() => issuer.check(build(), request)).toThrow(IssuanceCheckError);
    expect(() => issuer.check(build(), request)).toThrow(message);
  });

  it('finds extensions by OID, not position: the same extensions in another order pass the check', () => {
    const shuffled = goodExtensions().reverse();
    expect(() => issuer.check(tbsWith({ extensions: shuffled }), request)).not.toThrow();
  });

  it('refuses an SKI that is not the hash of the key', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    const extensions = profile.extensions(other, 'EC', ca.keyId).map((e) => Buffer.from(e.rawData));
    expect(() => issuer.check(tbsWith({ extensions }), request)).toThrow(/2\.5\.29\.14 is not the profile's/);
  });
});
