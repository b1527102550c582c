import { randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { Name, PublicKey, X509CertificateGenerator } from '@peculiar/x509';
import { Issuer } from '../../src/ca/issuer';
import { encodeSubject, type SubjectAttributes } from '../../src/ca/subject-name';
import { children, readTlv, slice } from '../../src/domain/der';
import { IssuanceProfile } from '../../src/domain/issuance-profile';
import { randomSerialSource } from '../../src/domain/serial-number';
import { generateKeyPairSync } from 'node:crypto';
import { keyObjectCa } from '../helpers/key-ca';

const crypto = webcrypto as unknown as Crypto;

/** A small deterministic PRNG so a failure can be replayed from its seed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._ ãçéÉü';

function tbsOf(der: Uint8Array): Buffer {
  const buf = Buffer.from(der);
  return slice(buf, children(buf, readTlv(buf, 0))[0]);
}

describe('the prepare → check → sign issuance path', () => {
  const keys = {
    ec256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    ec384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    ec521: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    rsa2048: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    rsa3072: generateKeyPairSync('rsa', { modulusLength: 3072 }),
  };
  const spkis = Object.entries(keys).map(([name, k]) => ({
    keyType: (name.startsWith('rsa') ? 'RSA' : 'EC') as 'RSA' | 'EC',
    spkiDer: k.publicKey.export({ format: 'der', type: 'spki' }),
  }));

  it.each(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048'] as const)(
    'produces TBSCertificates byte-identical to X509CertificateGenerator over random inputs, the subject re-encoded (%s CA)',
    async (keyAlgorithm) => {
      const { ca, key } = await keyObjectCa(keyAlgorithm, 'CN=Differential Root,O=mtls-ca,C=BR', new Date(Date.UTC(1990, 0, 1)), 40_000);
      const signingKey = await crypto.subtle.importKey(
        'pkcs8',
        key.export({ format: 'der', type: 'pkcs8' }),
        keyAlgorithm.startsWith('RSA') ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: keyAlgorithm === 'ECDSA-P256' ? 'P-256' : 'P-384' },
        false,
        ['sign'],
      );
      const signingAlgorithm = keyAlgorithm.startsWith('RSA') ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash: keyAlgorithm === 'ECDSA-P256' ? 'SHA-256' : 'SHA-384' };
      // The profile's maximum covers the random validities below (the check refuses longer ones).
      const profile = new IssuanceProfile({ validityDays: 365, maxValidityDays: 3001, backdateSeconds: 300, publicBaseUrl: 'https://ca.example.com:8443' });
      const issuer = new Issuer(ca, profile);
      const rand = prng(0x5eed + keyAlgorithm.length);
      const text = (max: number) =>
        Array.from({ length: 1 + Math.floor(rand() * max) }, () => ALPHABET[Math.floor(rand() * ALPHABET.length)]).join('').trim() || 'x';

      for (let i = 0; i < 60; i++) {
        const key = spkis[Math.floor(rand() * spkis.length)];
        const values: SubjectAttributes = { CN: text(30), OU: text(20) };
        if (rand() < 0.5) values.O = text(40);
        if (rand() < 0.5) values.L = text(40);
        if (rand() < 0.5) values.ST = text(40);
        if (rand() < 0.5) values.C = 'BR';
        // The request's subject: the attributes in a random order, as a CSR may have them.
        const attrs = Object.entries(values).map(([k, v]) => ({ [k]: [v] }));
        attrs.sort(() => rand() - 0.5);
        const requestSubject = Buffer.from(new Name(attrs).toArrayBuffer());
        const start = Date.UTC(1995, 0, 1) + Math.floor(rand() * 80 * 365) * 86_400_000 + Math.floor(rand() * 86_400) * 1000;
        const validity = { notBefore: new Date(start), notAfter: new Date(start + Math.floor(1 + rand() * 3000) * 86_400_000) };
        const serialNumber = i % 3 === 0 ? randomSerialSource.next() : Uint8Array.from([1 + Math.floor(rand() * 126), ...randomBytes(Math.floor(rand() * 19))]);

        const prepared = issuer.prepare({ subjectDer: requestSubject, spkiDer: key.spkiDer, keyType: key.keyType }, serialNumber, validity);
        const issued = await issuer.sign(prepared);
        const reference = await X509CertificateGenerator.create(
          {
            serialNumber: Buffer.from(serialNumber).toString('hex'),
            subject: new Name(new Uint8Array(encodeSubject(values))),
            issuer: new Name(new Uint8Array(ca.issuerDer)),
            notBefore: validity.notBefore,
            notAfter: validity.notAfter,
            publicKey: new PublicKey(new Uint8Array(key.spkiDer)),
            signingKey,
            signingAlgorithm,
            extensions: profile.extensions(key.spkiDer, key.keyType, ca.keyId),
          },
          crypto,
        );
        const expected = tbsOf(new Uint8Array(reference.rawData));
        const actual = tbsOf(issued.der);
        if (!actual.equals(expected)) {
          throw new Error(`case ${i}: TBS differs\nexpected ${expected.toString('hex')}\nactual   ${actual.toString('hex')}`);
        }
        // And the signature made through the CA's signer verifies with the CA key.
        expect(new NodeX509(issued.der).verify(new NodeX509(ca.certificateDer).publicKey)).toBe(true);
      }
    },
    60_000,
  );
});
