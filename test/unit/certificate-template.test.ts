import { generateKeyPairSync, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { Name } from '@peculiar/x509';
import { loadOrCreateCa } from '../../src/ca/ca-keystore';
import type { CertificateAuthority } from '../../src/domain/certificate-authority';
import type { CertificateRequestInfo } from '../../src/domain/csr-policy';
import { children, readTlv, slice } from '../../src/domain/der';
import { IssuanceProfile } from '../../src/domain/issuance-profile';
import { systemClock } from '../../src/domain/clock';
import { randomSerialSource } from '../../src/domain/serial-number';
import { tempDir } from '../helpers/openssl';

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

describe('the pre-encoded issuance path', () => {
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
    'produces TBSCertificates byte-identical to X509CertificateGenerator over random inputs (%s CA)',
    async (keyAlgorithm) => {
      const dir = await tempDir();
      const { ca } = await loadOrCreateCa(
        { dataDir: dir, subject: 'CN=Differential Root,O=mtls-ca,C=BR', keyAlgorithm, validityDays: 30000 },
        crypto,
        systemClock,
        randomSerialSource,
      );
      const profile = new IssuanceProfile({ validityDays: 365, maxValidityDays: 825, backdateSeconds: 300, publicBaseUrl: 'https://ca.example.com:8443' });
      const template = ca.template(profile);
      const rand = prng(0x5eed + keyAlgorithm.length);
      const text = (max: number) =>
        Array.from({ length: 1 + Math.floor(rand() * max) }, () => ALPHABET[Math.floor(rand() * ALPHABET.length)]).join('').trim() || 'x';

      for (let i = 0; i < 60; i++) {
        const key = spkis[Math.floor(rand() * spkis.length)];
        const attrs: Record<string, string[]>[] = [{ CN: [text(30)] }, { OU: [text(20)] }];
        if (rand() < 0.5) attrs.push({ O: [text(40)] });
        if (rand() < 0.5) attrs.push({ L: [text(40)] });
        if (rand() < 0.5) attrs.push({ C: ['BR'] });
        const subjectDer = Buffer.from(new Name(attrs).toArrayBuffer());
        const start = Date.UTC(1995, 0, 1) + Math.floor(rand() * 80 * 365) * 86_400_000 + Math.floor(rand() * 86_400) * 1000;
        const validity = { notBefore: new Date(start), notAfter: new Date(start + Math.floor(1 + rand() * 3000) * 86_400_000) };
        const serialNumber = i % 3 === 0 ? randomSerialSource.next() : Uint8Array.from([1 + Math.floor(rand() * 126), ...randomBytes(Math.floor(rand() * 19))]);
        const request = { subjectDer, spkiDer: key.spkiDer, keyType: key.keyType } as unknown as CertificateRequestInfo;

        const reference = await (ca as CertificateAuthority).issue({ request, serialNumber, validity }, profile);
        const fast = ca.issueFromTemplate({ request, serialNumber, validity }, template);
        const expected = tbsOf(new Uint8Array(reference.rawData));
        const actual = tbsOf(fast.der);
        if (!actual.equals(expected)) {
          throw new Error(`case ${i}: TBS differs\nexpected ${expected.toString('hex')}\nactual   ${actual.toString('hex')}`);
        }
        // And the fast path's signature verifies with the CA key.
        expect(new NodeX509(fast.der).verify(new NodeX509(ca.certificateDer).publicKey)).toBe(true);
      }
    },
    60_000,
  );
});
