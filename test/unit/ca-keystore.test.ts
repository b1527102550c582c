import { promises as fs } from 'node:fs';
import path from 'node:path';
import { webcrypto } from 'node:crypto';
import { CaLoadError, loadOrCreateCa, type CaKeystoreParams } from '../../src/ca/ca-keystore';
import { systemClock } from '../../src/domain/clock';
import { randomSerialSource } from '../../src/domain/serial-number';
import { openssl, tempDir } from '../helpers/openssl';

const crypto = webcrypto as unknown as Crypto;
const base = (dataDir: string, over: Partial<CaKeystoreParams> = {}): CaKeystoreParams => ({
  dataDir,
  subject: 'CN=Test Root CA,O=mtls-ca tests',
  keyAlgorithm: 'ECDSA-P256',
  validityDays: 3650,
  ...over,
});
const load = (p: CaKeystoreParams) => loadOrCreateCa(p, crypto, systemClock, randomSerialSource);

describe('the CA keystore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('generates a self-signed root on first start, key mode 0600, and reuses it afterwards', async () => {
    const first = await load(base(dir));
    expect(first.generated).toBe(true);
    expect(first.encrypted).toBe(false);
    expect((await fs.stat(first.keyPath)).mode & 0o777).toBe(0o600);
    const text = (await openssl(['x509', '-in', first.certPath, '-noout', '-text'])).stdout;
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    expect(text).toContain('Subject: CN = Test Root CA, O = mtls-ca tests');
    const again = await load(base(dir));
    expect(again.generated).toBe(false);
    expect(again.ca.certificateDer.equals(first.ca.certificateDer)).toBe(true);
  });

  it('encrypts the generated key as PKCS#8 with CA_KEY_PASSPHRASE and needs it to load', async () => {
    const first = await load(base(dir, { passphrase: 'correct horse battery staple' }));
    expect(first.encrypted).toBe(true);
    expect(await fs.readFile(first.keyPath, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const error = await load(base(dir)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(CaLoadError);
    expect((error as Error).message).toMatch(/CA_KEY_PASSPHRASE is missing or wrong/);
    const wrong = await load(base(dir, { passphrase: 'Xq9-not-the-passphrase' })).catch((e: Error) => e);
    expect((wrong as Error).message).not.toContain('Xq9-not-the-passphrase');
  });

  it.each(['ECDSA-P384', 'RSA-2048'] as const)('generates a %s CA', async (keyAlgorithm) => {
    const { ca } = await load(base(dir, { keyAlgorithm }));
    expect(ca.signer.signatureAlgorithmDer.toString('hex')).toBe(keyAlgorithm.startsWith('RSA') ? '300d06092a864886f70d01010b0500' : '300a06082a8648ce3d040303');
  });

  it('loads an openssl-made intermediate with its chain, and refuses a mismatched key or a non-CA certificate', async () => {
    const o = (args: string[]) => openssl(args, { cwd: dir });
    await o(['req', '-x509', '-new', '-nodes', '-subj', '/CN=Offline Root', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'root.key', '-out', 'root.crt', '-days', '30']);
    await o(['req', '-new', '-nodes', '-subj', '/CN=Issuing CA', '-newkey', 'rsa:2048', '-keyout', 'int.key', '-out', 'int.csr']);
    await fs.writeFile(path.join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    await o(['x509', '-req', '-in', 'int.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'int.crt', '-days', '20', '-extfile', 'ext.cnf']);
    await o(['req', '-x509', '-new', '-nodes', '-subj', '/CN=leaf', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'leaf.key', '-out', 'leaf.crt', '-days', '1', '-addext', 'basicConstraints=critical,CA:FALSE']);
    const p = (f: string) => path.join(dir, f);

    const { ca } = await load(base(dir, { certFile: p('int.crt'), keyFile: p('int.key'), chainFile: p('root.crt') }));
    expect(ca.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(ca.certificate.subject).toBe('CN=Issuing CA');

    await expect(load(base(dir, { certFile: p('int.crt'), keyFile: p('root.key') }))).rejects.toThrow(/does not match/);
    await expect(load(base(dir, { certFile: p('leaf.crt'), keyFile: p('leaf.key') }))).rejects.toThrow(/not a CA certificate/);
  });
});
