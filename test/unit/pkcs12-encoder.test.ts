import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { encodePkcs12 as encodeInBrowser } from '../../src/pkcs12/pkcs12-encoder';
import { encodePkcs12 } from '../../src/pkcs12';
import { openssl, opensslStatus, tempDir } from '../helpers/openssl';

const run = promisify(execFile);
const subtle = globalThis.crypto.subtle;

/** A CA and a leaf made with WebCrypto, as the console's browser does. */
async function leafAndCa(keyAlg: EcKeyGenParams | RsaHashedKeyGenParams) {
  const signAlg = keyAlg.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
  const caKeys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Browser Test CA',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: caKeys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const keys = (await subtle.generateKey(keyAlg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=erp-connector, OU=acme',
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  void signAlg;
  return { ca, leaf, pkcs8: await subtle.exportKey('pkcs8', keys.privateKey) };
}

describe('writing PKCS#12 bundles: WebCrypto (the console) and Node (the CLI, legacy too)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('mtls-ca-p12-');
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it.each([
    ['ECDSA P-256', { name: 'ECDSA', namedCurve: 'P-256' }],
    ['RSA 2048', { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }],
  ] as const)('writes a %s bundle openssl and keytool open, with the chain, friendlyName and AES-256/HMAC-SHA256', async (_label, alg) => {
    const { ca, leaf, pkcs8 } = await leafAndCa(alg as EcKeyGenParams | RsaHashedKeyGenParams);
    const der = await encodeInBrowser({ privateKeyPkcs8: pkcs8, certificates: [leaf.rawData, ca.rawData], password: 'password-1', friendlyName: 'erp-connector' });
    const file = path.join(dir, `${_label.replace(/\W/g, '')}.p12`);
    await fs.writeFile(file, der);

    const info = await openssl(['pkcs12', '-in', file, '-info', '-noout', '-passin', 'pass:password-1']);
    const text = info.stdout + info.stderr;
    expect(text).toMatch(/MAC: sha256, Iteration 2048/);
    expect(text).toMatch(/PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    expect(text).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);

    const pem = await openssl(['pkcs12', '-in', file, '-nodes', '-passin', 'pass:password-1']);
    expect(pem.stdout).toContain('friendlyName: erp-connector');
    expect(pem.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(pem.stdout).toMatch(/BEGIN PRIVATE KEY/);
    // the key in the bundle is the leaf's
    const keyFile = path.join(dir, 'k.pem');
    await fs.writeFile(keyFile, pem.stdout);
    const fromKey = await openssl(['pkey', '-in', keyFile, '-pubout']);
    const fromCert = await openssl(['x509', '-in', keyFile, '-pubkey', '-noout']);
    expect(fromKey.stdout).toBe(fromCert.stdout);

    expect((await opensslStatus(['pkcs12', '-in', file, '-info', '-noout', '-passin', 'pass:wrong'])).code).not.toBe(0);

    // A password beyond ASCII is UTF-8 for PBES2 and a BMPString for the MAC, as OpenSSL reads them
    // (keytool refuses OpenSSL's own bundles with such a password, so only openssl judges it).
    const accented = path.join(dir, 'accented.p12');
    await fs.writeFile(accented, await encodeInBrowser({ privateKeyPkcs8: pkcs8, certificates: [leaf.rawData], password: 'pässwörd €', friendlyName: 'x' }));
    expect((await opensslStatus(['pkcs12', '-in', accented, '-info', '-noout', '-passin', 'pass:pässwörd €'])).code).toBe(0);
    expect((await opensslStatus(['pkcs12', '-in', accented, '-info', '-noout', '-passin', 'pass:passwörd €'])).code).not.toBe(0);

    const { stdout } = await run('keytool', ['-list', '-v', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'password-1']).catch((e: { stdout: string; stderr: string }) => {
      throw new Error(`keytool: ${e.stdout}${e.stderr}`);
    });
    expect(stdout).toMatch(/Alias name: erp-connector/);
    expect(stdout).toMatch(/Entry type: PrivateKeyEntry/);
    expect(stdout).toMatch(/Certificate chain length: 2/);
  });

  it.each(['modern', 'legacy'] as const)('the Node encoder writes the %s profile from PEM, and openssl and keytool open it', async (profile) => {
    const { ca, leaf, pkcs8 } = await leafAndCa({ name: 'ECDSA', namedCurve: 'P-256' });
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString('base64')}\n-----END PRIVATE KEY-----\n`;
    const der = await encodePkcs12({ keyPem, certificatePem: leaf.toString('pem'), chainPem: ca.toString('pem'), password: 'password-1', profile, friendlyName: 'erp-connector' });
    const file = path.join(dir, `node-${profile}.p12`);
    await fs.writeFile(file, der);
    const info = await openssl(['pkcs12', '-in', file, '-info', '-noout', '-passin', 'pass:password-1', ...(profile === 'legacy' ? ['-legacy'] : [])]);
    const text = info.stdout + info.stderr;
    if (profile === 'legacy') {
      expect(text).toMatch(/MAC: sha1/);
      expect(text).toMatch(/pbeWithSHA1And3-KeyTripleDES-CBC/);
      expect(text).not.toMatch(/AES|PBES2/);
    } else {
      expect(text).toMatch(/MAC: sha256/);
      expect(text).toMatch(/AES-256-CBC/);
    }
    const { stdout } = await run('keytool', ['-list', '-v', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'password-1']);
    expect(stdout).toMatch(/Alias name: erp-connector/);
    expect(stdout).toMatch(/Certificate chain length: 2/);
  });
});
