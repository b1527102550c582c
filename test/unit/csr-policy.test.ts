import { webcrypto } from 'node:crypto';
import { checkCertificateRequest, csrDerFromBody } from '../../src/domain/csr-policy';
import { CaError } from '../../src/domain/errors';
import { fixture } from '../helpers/openssl';

const crypto = webcrypto as unknown as Crypto;
const check = async (file: string) => checkCertificateRequest(csrDerFromBody(await fixture(file)), crypto);

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
    const fromDer = await checkCertificateRequest(csrDerFromBody(await fixture('ec-p256.der')), crypto);
    const fromPem = await check('ec-p256.csr');
    expect(fromDer.spkiDer.equals(fromPem.spkiDer)).toBe(true);
    expect(fromDer.subjectDer.equals(fromPem.subjectDer)).toBe(true);
  });

  it('rejects trailing bytes after the CSR', async () => {
    const der = Buffer.concat([await fixture('ec-p256.der'), Buffer.from([0, 0])]);
    await expect(checkCertificateRequest(der, crypto)).rejects.toMatchObject({ kind: 'malformed-csr' });
  });

  it('rejects deeply nested garbage without crashing', async () => {
    const nested = Buffer.alloc(4000, 0x30);
    await expect(checkCertificateRequest(csrDerFromBody(nested), crypto)).rejects.toBeInstanceOf(CaError);
  });
});
