import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { PFX } from '@peculiar/asn1-pfx';
import { bmpPassword, pkcs12Kdf, KDF_MAC } from '../../src/pkcs12/pkcs12-kdf';

const HASHES: Record<string, string> = { '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.3': 'sha512' };

describe('PKCS#12 KDF against bundles openssl writes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'p12kdf-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=kdf',
      '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1'], { stdio: 'ignore' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([[[]], [['-legacy']], [['-macalg', 'sha512']]])('recomputes the MAC of openssl pkcs12 -export %j', (extra: string[]) => {
    const out = join(dir, 'b.p12');
    execFileSync('openssl', ['pkcs12', '-export', ...extra, '-inkey', join(dir, 'k.pem'), '-in', join(dir, 'c.pem'),
      '-passout', 'pass:s3cret é', '-out', out], { stdio: 'ignore' });
    const pfx = AsnConvert.parse(readFileSync(out), PFX);
    const macData = pfx.macData!;
    const hash = HASHES[macData.mac.digestAlgorithm.algorithm];
    const content = Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
    const digestLength = macData.mac.digest.byteLength;
    const macKey = pkcs12Kdf(hash, bmpPassword('s3cret é'), Buffer.from(macData.macSalt.buffer), KDF_MAC, macData.iterations, digestLength);
    expect(createHmac(hash, macKey).update(content).digest().toString('hex')).toBe(Buffer.from(macData.mac.digest.buffer).toString('hex'));
    const wrongKey = pkcs12Kdf(hash, bmpPassword('wrong'), Buffer.from(macData.macSalt.buffer), KDF_MAC, macData.iterations, digestLength);
    expect(createHmac(hash, wrongKey).update(content).digest().toString('hex')).not.toBe(Buffer.from(macData.mac.digest.buffer).toString('hex'));
  });
});
