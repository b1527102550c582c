import 'reflect-metadata';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PFX } from '@peculiar/asn1-pfx';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CaError } from '../../src/domain/errors';
import { decodePkcs12, MAX_PKCS12_WORK } from '../../src/pkcs12/pkcs12-decoder';
import { openssl, tempDir } from '../helpers/openssl';

/**
 * Security review (05:00 UTC): the work budget of decodePkcs12 charges the MAC's iteration count once, but
 * the PKCS#12 KDF in verifyPkcs12Mac derives as many bytes as the file's own MAC digest is long
 * (`expected.length`), each 20-byte SHA-1 block costing `iterations` rounds. A 256 KiB file with a 100 KiB
 * "digest" and 1,000,000 iterations asks for ~5e9 synchronous SHA-1 rounds: the event loop is blocked for
 * hours, by any API key (POST /pkcs12/test) or an identities:manage key (POST /identities).
 *
 * Fixed: src/pkcs12/mac.ts refuses a MAC digest whose length is not the HMAC's output length, before
 * deriving anything.
 */
describe('decodePkcs12 work budget (review finding: MAC digest length)', () => {
  const PASSWORD = 'review-pw';
  let base: Buffer;

  beforeAll(async () => {
    const dir = await tempDir('mtls-ca-p12work-');
    const p = (n: string) => path.join(dir, n);
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=work', '-keyout', p('k.pem'), '-out', p('c.pem'), '-days', '2']);
    await openssl(['pkcs12', '-export', '-inkey', p('k.pem'), '-in', p('c.pem'), '-passout', `pass:${PASSWORD}`, '-out', p('a.p12')]);
    base = await fs.readFile(p('a.p12'));
  });

  it('refuses, before deriving, a MAC digest longer than its HMAC (the KDF would run iterations x blocks rounds uncharged)', () => {
    const pfx = AsnConvert.parse(base, PFX);
    const iterations = 2048; // what openssl writes: charged 2048 of the budget
    const blocks = Math.ceil(MAX_PKCS12_WORK / iterations) + 1; // SHA-1 blocks of 20 bytes: > MAX_PKCS12_WORK rounds in total
    pfx.macData!.iterations = iterations;
    pfx.macData!.mac.digestAlgorithm.algorithm = '1.3.14.3.2.26'; // HMAC-SHA1, 20-byte output
    pfx.macData!.mac.digest = new OctetString(Buffer.alloc(blocks * 20, 0x5a));
    const file = new Uint8Array(AsnConvert.serialize(pfx));
    let reason: unknown;
    try {
      decodePkcs12(file, PASSWORD);
    } catch (e) {
      expect(e).toBeInstanceOf(CaError);
      reason = (e as CaError).extensions.reason;
    }
    // Today: 'wrong-password', after ~2 million uncharged SHA-1 rounds (seconds of a blocked event loop).
    expect(['malformed', 'too-much-work']).toContain(reason);
  });
});
