import { promises as fs } from 'node:fs';
import path from 'node:path';
import { certificateRequestPem } from '../../src/ca/identity-csr';
import { generateHeldKey, readPrivateKeyPem } from '../../src/ca/key-pair';
import { encodeSubject } from '../../src/ca/subject-name';
import { GENERATED_KEY_TYPES } from '../../src/domain/client-identity';
import { openssl, opensslStatus, tempDir } from '../helpers/openssl';

describe('the CSR answered for a partner CA (certificateRequestPem)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('identity-csr-');
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it.each(GENERATED_KEY_TYPES)('is a %s request that openssl verifies, with the subject re-encoded in the order C, O, OU, CN', async (type) => {
    const key = await generateHeldKey(type);
    const pem = await certificateRequestPem(key, encodeSubject({ CN: 'Zoë at partner', OU: 'Ops', O: 'Acme GmbH', C: 'DE' }));
    const file = path.join(dir, `${type}.csr`);
    await fs.writeFile(file, pem);
    const verified = await opensslStatus(['req', '-in', file, '-noout', '-verify', '-subject', '-nameopt', 'RFC2253,-esc_msb', '-pubkey']);
    expect(verified.code).toBe(0);
    expect(verified.output).toMatch(/verify OK/i);
    expect(verified.output).toContain('subject=CN=Zoë at partner,OU=Ops,O=Acme GmbH,C=DE');
    const { stdout } = await openssl(['req', '-in', file, '-noout', '-pubkey']);
    expect(stdout.replace(/\s/g, '')).toContain(key.spkiDer.toString('base64'));
  });
});

describe('readPrivateKeyPem', () => {
  it('reads PKCS#8, PKCS#1 and SEC1, and refuses encrypted, several or no keys without quoting them', async () => {
    const ec = await generateHeldKey('ec-p256');
    const rsa = await generateHeldKey('rsa-2048');
    expect(readPrivateKeyPem(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).publicKeySha256).toBe(ec.publicKeySha256);
    expect(readPrivateKeyPem(ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string).publicKeySha256).toBe(ec.publicKeySha256);
    expect(readPrivateKeyPem(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string).publicKeySha256).toBe(rsa.publicKeySha256);
    const encrypted = ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    const two = (ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string) + (rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    for (const [text, detail] of [
      [encrypted, /encrypted/],
      [two, /exactly one/],
      ['no key here', /exactly one/],
      ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /not a readable private key/],
    ] as const) {
      let error: { kind?: string; detail?: string } = {};
      try {
        readPrivateKeyPem(text);
      } catch (e) {
        error = e as typeof error;
      }
      expect(error.kind).toBe('invalid-request');
      expect(error.detail).toMatch(detail);
      expect(error.detail).not.toMatch(/MII|BEGIN/);
    }
  });
});
