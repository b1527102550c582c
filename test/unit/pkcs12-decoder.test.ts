import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { createHmac, createPublicKey, pbkdf2Sync, randomBytes, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { AuthenticatedSafe, MacData, PFX } from '@peculiar/asn1-pfx';
import { ContentInfo } from '@peculiar/asn1-cms';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { CaError } from '../../src/domain/errors';
import { encodePkcs12 } from '../../src/pkcs12';
import { EncryptedData } from '../../src/pkcs12/encrypted-data';
import { Pbkdf2Params, Pbmac1Params } from '../../src/pkcs12/pbes2-params';
import { PKCS12PbeParams } from '../../src/pkcs12/pkcs12-pbe';
import { decodePkcs12, type Pkcs12Contents } from '../../src/pkcs12/pkcs12-decoder';
import { systemClock } from '../../src/domain/clock';
import { Pkcs12Tester } from '../../src/services/pkcs12-tester';
import { javaCompatibility } from '../../src/pkcs12/java-compatibility';
import { openssl, tempDir } from '../helpers/openssl';

const run = promisify(execFile);
const PASSWORD = 'pässword-1';

function spki(key: { export(o: { type: 'spki'; format: 'der' }): Buffer }): string {
  return key.export({ type: 'spki', format: 'der' }).toString('hex');
}

function expectRefusal(fn: () => unknown, reason: string): CaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CaError);
    const error = e as CaError;
    expect(error.kind).toBe('invalid-pkcs12');
    expect(error.status).toBe(422);
    expect(error.extensions.reason).toBe(reason);
    return error;
  }
  throw new Error('expected a refusal');
}

describe('decodePkcs12: reading PKCS#12 files written by openssl, keytool and our encoder', () => {
  let dir: string;
  let leafPem: string;
  let caPem: string;
  let leafSpki: string;
  const file = (name: string) => fs.readFile(path.join(dir, name));

  beforeAll(async () => {
    dir = await tempDir('mtls-ca-p12dec-');
    const p = (n: string) => path.join(dir, n);
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=Decoder Test CA', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2']);
    await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=decoder-leaf/OU=acme', '-keyout', p('leaf.key'), '-out', p('leaf.csr')]);
    await openssl(['x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-set_serial', '7', '-days', '1', '-out', p('leaf.pem')]);
    const base = ['pkcs12', '-export', '-inkey', p('leaf.key'), '-in', p('leaf.pem'), '-certfile', p('ca.pem'), '-name', 'client', '-passout', `pass:${PASSWORD}`];
    await openssl([...base, '-out', p('default.p12')]);
    await openssl([...base, '-legacy', '-out', p('legacy.p12')]);
    await openssl([...base, '-keypbe', 'NONE', '-certpbe', 'NONE', '-out', p('plain.p12')]);
    await openssl([...base, '-keypbe', 'NONE', '-certpbe', 'NONE', '-nomac', '-out', p('nomac.p12')]);
    await run('keytool', ['-genkeypair', '-alias', 'java-client', '-keyalg', 'EC', '-groupname', 'secp256r1', '-dname', 'CN=keytool-client',
      '-validity', '2', '-storetype', 'PKCS12', '-keystore', p('keytool.p12'), '-storepass', 'changeit']);
    leafPem = await fs.readFile(p('leaf.pem'), 'utf8');
    caPem = await fs.readFile(p('ca.pem'), 'utf8');
    leafSpki = spki(new X509Certificate(leafPem).publicKey);
    const keyPem = await fs.readFile(p('leaf.key'), 'utf8');
    for (const profile of ['modern', 'legacy'] as const) {
      await fs.writeFile(p(`ours-${profile}.p12`), await encodePkcs12({ keyPem, certificatePem: leafPem, chainPem: caPem, password: PASSWORD, profile, friendlyName: 'client' }));
    }
  }, 120_000);
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  function expectLeafAndCa(contents: Pkcs12Contents) {
    expect(contents.keys).toHaveLength(1);
    expect(spki(createPublicKey(contents.keys[0].privateKey))).toBe(leafSpki);
    expect(contents.keys[0].privateKey.asymmetricKeyType).toBe('rsa');
    const ders = contents.certificates.map((c) => c.der);
    expect(ders).toHaveLength(2);
    expect(ders.some((d) => d.equals(new X509Certificate(leafPem).raw))).toBe(true);
    expect(ders.some((d) => d.equals(new X509Certificate(caPem).raw))).toBe(true);
    const leaf = contents.certificates.find((c) => c.der.equals(new X509Certificate(leafPem).raw))!;
    expect(leaf.attributes.friendlyName).toBe('client');
    expect(leaf.attributes.localKeyId).toMatch(/^[0-9a-f]+$/);
    expect(contents.keys[0].attributes.localKeyId).toBe(leaf.attributes.localKeyId);
    expect(contents.keys[0].attributes.friendlyName).toBe('client');
  }

  it('reads OpenSSL 3 defaults: PBES2 (PBKDF2-hmacWithSHA256, AES-256-CBC) for both safes and an HMAC-SHA256 MAC', async () => {
    const contents = decodePkcs12(await file('default.p12'), PASSWORD);
    expectLeafAndCa(contents);
    expect(contents.mac).toEqual({ oid: '2.16.840.1.101.3.4.2.1', algorithm: 'HMAC-SHA256', iterations: 2048, saltLength: 8 });
    const encrypted = contents.safes.find((s) => s.contentType === 'encryptedData')!;
    expect(encrypted.bags).toEqual(['certBag', 'certBag']);
    expect(encrypted.encryption?.description).toBe('PBES2 (PBKDF2-hmacWithSHA256, AES-256-CBC), 2048 iterations');
    expect(contents.keys[0].bagType).toBe('pkcs8ShroudedKeyBag');
    expect(contents.keys[0].encryption?.pbes2).toEqual({ kdf: 'PBKDF2', prf: 'hmacWithSHA256', prfOid: '1.2.840.113549.2.9', cipher: 'AES-256-CBC', cipherOid: '2.16.840.1.101.3.4.1.42' });
  });

  it('reads openssl -legacy: RC2-40 certificates, 3DES key and a SHA-1 MAC', async () => {
    const contents = decodePkcs12(await file('legacy.p12'), PASSWORD);
    expectLeafAndCa(contents);
    expect(contents.mac?.algorithm).toBe('HMAC-SHA1');
    expect(contents.safes.find((s) => s.contentType === 'encryptedData')?.encryption).toMatchObject({ oid: '1.2.840.113549.1.12.1.6', name: 'pbeWithSHAAnd40BitRC2-CBC', iterations: 2048 });
    expect(contents.keys[0].encryption).toMatchObject({ oid: '1.2.840.113549.1.12.1.3', name: 'pbeWithSHAAnd3-KeyTripleDES-CBC' });
  });

  it('reads -keypbe NONE -certpbe NONE (plain safes, keyBag) with and without -nomac', async () => {
    for (const name of ['plain.p12', 'nomac.p12']) {
      const contents = decodePkcs12(await file(name), PASSWORD);
      expectLeafAndCa(contents);
      expect(contents.safes.every((s) => s.contentType === 'data' && s.encryption === null)).toBe(true);
      expect(contents.keys[0]).toMatchObject({ bagType: 'keyBag', encryption: null });
      expect(contents.mac === null).toBe(name === 'nomac.p12');
    }
    // With no MAC and nothing encrypted, the password is never checked: any password reads it.
    expect(decodePkcs12(await file('nomac.p12'), 'anything').keys).toHaveLength(1);
    expectRefusal(() => decodePkcs12(Buffer.alloc(0), PASSWORD), 'not-pkcs12');
  });

  it('reads a keystore made by keytool -genkeypair -storetype PKCS12 (Java 17: PBES2/AES-256, HMAC-SHA256, 10000 iterations)', async () => {
    const contents = decodePkcs12(await file('keytool.p12'), 'changeit');
    expect(contents.keys).toHaveLength(1);
    expect(contents.certificates).toHaveLength(1);
    expect(contents.certificates[0].certificate.subject).toBe('CN=keytool-client');
    expect(spki(createPublicKey(contents.keys[0].privateKey))).toBe(spki(contents.certificates[0].certificate.publicKey));
    expect(contents.keys[0].attributes.friendlyName).toBe('java-client');
    expect(contents.mac).toMatchObject({ algorithm: 'HMAC-SHA256', iterations: 10000 });
    expect(contents.keys[0].encryption?.description).toBe('PBES2 (PBKDF2-hmacWithSHA256, AES-256-CBC), 10000 iterations');
  });

  it.each(['modern', 'legacy'])('reads our own encodePkcs12 %s profile', async (profile) => {
    const contents = decodePkcs12(await file(`ours-${profile}.p12`), PASSWORD);
    expectLeafAndCa(contents);
    expect(contents.mac?.algorithm).toBe(profile === 'modern' ? 'HMAC-SHA256' : 'HMAC-SHA1');
    expect(contents.keys[0].encryption?.name).toBe(profile === 'modern' ? 'PBES2' : 'pbeWithSHAAnd3-KeyTripleDES-CBC');
  });

  it.each(['default.p12', 'legacy.p12', 'keytool.p12', 'ours-modern.p12'])('refuses a wrong password for %s as 422 wrong-password', async (name) => {
    const der = await file(name);
    const error = expectRefusal(() => decodePkcs12(new Uint8Array(der), 'wrong'), 'wrong-password');
    expect(error.detail).toMatch(/MAC/);
  });

  it('refuses a MAC iteration count above the limit before doing the work', async () => {
    const pfx = AsnConvert.parse(await file('default.p12'), PFX);
    pfx.macData!.iterations = 50_000_000;
    expectRefusal(() => decodePkcs12(new Uint8Array(AsnConvert.serialize(pfx)), PASSWORD), 'too-much-work');
  });

  it('refuses a file whose bags ask for more key-derivation work than the budget, before doing it', async () => {
    // A file without a MAC (nothing then stops the decoder before the bags), its 3DES certificate safe's iteration count raised.
    await openssl(['pkcs12', '-export', '-legacy', '-nomac', '-certpbe', 'PBE-SHA1-3DES', '-inkey', path.join(dir, 'leaf.key'), '-in', path.join(dir, 'leaf.pem'), '-passout', `pass:${PASSWORD}`, '-out', path.join(dir, 'nomac-legacy.p12')]);
    const pfx = AsnConvert.parse(await file('nomac-legacy.p12'), PFX);
    const safes = AsnConvert.parse(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer, AuthenticatedSafe);
    const index = safes.findIndex((ci) => ci.contentType === '1.2.840.113549.1.7.6');
    const encrypted = AsnConvert.parse(safes[index].content, EncryptedData);
    const algorithm = encrypted.encryptedContentInfo.contentEncryptionAlgorithm;
    const params = AsnConvert.parse(algorithm.parameters!, PKCS12PbeParams);
    expect(decodePkcs12(await file('nomac-legacy.p12'), PASSWORD).certificates).toHaveLength(1);
    params.iterations = 900_000;
    algorithm.parameters = AsnConvert.serialize(params);
    safes[index] = new ContentInfo({ contentType: safes[index].contentType, content: AsnConvert.serialize(encrypted) });
    pfx.authSafe = new ContentInfo({ contentType: pfx.authSafe.contentType, content: AsnConvert.serialize(new OctetString(AsnConvert.serialize(safes))) });
    expectRefusal(() => decodePkcs12(new Uint8Array(AsnConvert.serialize(pfx)), PASSWORD), 'too-much-work');
  });

  it('verifies a PBMAC1 (RFC 9579) MAC: PBKDF2-HMAC-SHA256 key over the UTF-8 password, HMAC-SHA256', async () => {
    const pfx = AsnConvert.parse(await file('default.p12'), PFX);
    const content = Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
    const salt = randomBytes(16);
    const key = pbkdf2Sync(Buffer.from(PASSWORD, 'utf8'), salt, 4096, 32, 'sha256');
    const kdf = Object.assign(new Pbkdf2Params(), { salt: new OctetString(salt), iterationCount: 4096, keyLength: 32, prf: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.2.9', parameters: null }) });
    const params = Object.assign(new Pbmac1Params(), {
      keyDerivationFunc: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.5.12', parameters: AsnConvert.serialize(kdf) }),
      messageAuthScheme: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.2.9', parameters: null }),
    });
    pfx.macData = new MacData({
      mac: new DigestInfo({ digestAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.5.14', parameters: AsnConvert.serialize(params) }), digest: new OctetString(createHmac('sha256', key).update(content).digest()) }),
      macSalt: new OctetString(Buffer.from('NOT USED')),
      iterations: 1,
    });
    const der = new Uint8Array(AsnConvert.serialize(pfx));
    const contents = decodePkcs12(der, PASSWORD);
    expect(contents.mac).toEqual({ oid: '1.2.840.113549.1.5.14', algorithm: 'PBMAC1', iterations: 4096, saltLength: 16, pbmac1: { prf: 'PBKDF2-hmacWithSHA256', mac: 'hmacWithSHA256', keyLength: 32 } });
    expect(contents.keys).toHaveLength(1);
    expectRefusal(() => decodePkcs12(der, 'wrong'), 'wrong-password');
    // Java reads PBMAC1 from JDK 26; 17 and 21 only with a backport; older lines not at all.
    expect(javaCompatibility(contents).map((v) => [v.jdk, v.loads])).toEqual([['legacy', 'no'], ['8u301+', 'no'], ['11.0.12+', 'no'], ['17', 'depends'], ['21', 'depends']]);
  });

  it('answers every truncated, bit-flipped or random input with a 422 invalid-pkcs12, never another error (the tester analyses what decodes)', async () => {
    const originals = [await file('default.p12'), await file('legacy.p12'), await file('nomac.p12')];
    const inputs: Buffer[] = [Buffer.from('not a pkcs12 file'), Buffer.alloc(300_000, 0x30), Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])];
    for (let i = 0; i < 40; i++) inputs.push(randomBytes(1 + Math.floor(Math.random() * 4000)));
    for (const original of originals) {
      for (let i = 0; i < 30; i++) inputs.push(original.subarray(0, Math.floor(Math.random() * original.length)));
      for (let i = 0; i < 60; i++) {
        const mutant = Buffer.from(original);
        mutant[Math.floor(Math.random() * mutant.length)] ^= 1 << Math.floor(Math.random() * 8);
        inputs.push(mutant);
      }
    }
    let refused = 0;
    const tester = new Pkcs12Tester({ clock: systemClock, connector: { handshake: () => Promise.reject(new Error('not in this test')) } });
    for (const input of inputs) {
      try {
        tester.analyse(decodePkcs12(input, PASSWORD)); // what decodes, the tester's analysis must take too
      } catch (e) {
        if (!(e instanceof CaError) || e.kind !== 'invalid-pkcs12') throw new Error(`unexpected ${String(e)} for input ${input.toString('hex').slice(0, 80)}`);
        refused++;
      }
    }
    // A flipped bit in the no-MAC file's certificate body may still decode: most inputs are refused, none crash.
    expect(refused).toBeGreaterThan(inputs.length * 0.7);
  }, 120_000);
});
