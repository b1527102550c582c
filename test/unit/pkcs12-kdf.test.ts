import { bmpPassword, pkcs12Kdf, KDF_IV, KDF_KEY } from '../../src/pkcs12/pkcs12-kdf';

describe('PKCS#12 KDF (RFC 7292 appendix B)', () => {
  const salt = Buffer.from('0A58CF64530D823F', 'hex');
  it('derives the published SHA-1 key and IV vectors for password "smeg"', () => {
    expect(pkcs12Kdf('sha1', bmpPassword('smeg'), salt, KDF_KEY, 1, 24).toString('hex').toUpperCase()).toBe(
      '8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3',
    );
    expect(pkcs12Kdf('sha1', bmpPassword('smeg'), salt, KDF_IV, 1, 8).toString('hex').toUpperCase()).toBe('79993DFE048D3B76');
  });
  it('encodes the password as BMPString with a terminating zero', () => {
    expect(bmpPassword('ab').toString('hex')).toBe('006100620000');
  });
});
