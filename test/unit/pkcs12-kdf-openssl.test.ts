import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePfx, verifyPkcs12Mac } from '../../src/pkcs12/mac';

describe('PKCS#12 MAC (KDF of RFC 7292 appendix B) against bundles openssl writes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'p12kdf-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=kdf',
      '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1'], { stdio: 'ignore' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [[], 'sha256'],
    [['-legacy'], 'sha1'],
    [['-macalg', 'sha512'], 'sha512'],
  ])('verifies the MAC of openssl pkcs12 -export %j', (extra: string[], hash: string) => {
    const out = join(dir, 'b.p12');
    execFileSync('openssl', ['pkcs12', '-export', ...extra, '-inkey', join(dir, 'k.pem'), '-in', join(dir, 'c.pem'),
      '-passout', 'pass:s3cret é', '-out', out], { stdio: 'ignore' });
    const der = readFileSync(out);
    expect(verifyPkcs12Mac(parsePfx(der), 's3cret é')).toBe(hash);
    expect(() => verifyPkcs12Mac(parsePfx(der), 'wrong')).toThrow(expect.objectContaining({ kind: 'invalid-request' }));
    const corrupted = Buffer.from(der);
    corrupted[corrupted.length - 40] ^= 1;
    expect(() => verifyPkcs12Mac(parsePfx(corrupted), 's3cret é')).toThrow(expect.objectContaining({ kind: 'invalid-request' }));
  });

  it('refuses garbage and truncated files with a 400', () => {
    expect(() => parsePfx(Buffer.from('not a pfx'))).toThrow(expect.objectContaining({ kind: 'invalid-request' }));
    expect(() => parsePfx(Buffer.alloc(0))).toThrow(expect.objectContaining({ kind: 'invalid-request' }));
  });
});
