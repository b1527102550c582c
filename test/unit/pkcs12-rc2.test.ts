import { rc2DecryptBlock, rc2KeySchedule } from '../../src/pkcs12/rc2';

// RFC 2268 section 5 test vectors: [key, effective bits, plaintext, ciphertext]
const VECTORS: [string, number, string, string][] = [
  ['0000000000000000', 63, '0000000000000000', 'ebb773f993278eff'],
  ['ffffffffffffffff', 64, 'ffffffffffffffff', '278b27e42e2f0d49'],
  ['3000000000000000', 64, '1000000000000001', '30649edf9be7d2c2'],
  ['88', 64, '0000000000000000', '61a8a244adacccf0'],
];

describe('RC2 (RFC 2268)', () => {
  it.each(VECTORS)('decrypts the RFC 2268 vector key %s (%i bits)', (key, bits, plain, cipher) => {
    expect(rc2DecryptBlock(rc2KeySchedule(Buffer.from(key, 'hex'), bits), Buffer.from(cipher, 'hex')).toString('hex')).toBe(plain);
  });
});
