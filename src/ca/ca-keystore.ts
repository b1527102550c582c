import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, SubjectKeyIdentifierExtension, X509Certificate } from '@peculiar/x509';
import { keyObjectSigner } from './ca-signer';
import { CertificateAuthority, type CaKeyAlgorithm } from './certificate-authority';
import { subjectKeyIdentifier } from '../domain/issuance-profile';
import { decodePem, encodePem } from '../domain/pem';
import type { Clock } from '../domain/clock';
import type { SerialSource } from '../domain/serial-number';
import { CaLoadError } from './ca-errors';
import { generateRootCa } from './ca-generator';

export { CaLoadError } from './ca-errors';

/** Where the CA comes from: files given by the operator, or generated once into the data directory. */
export interface CaKeystoreParams {
  readonly dataDir: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly chainFile?: string;
  readonly passphrase?: string;
  /** Unset: a unique default (see defaultCaSubject). */
  readonly subject?: string;
  readonly keyAlgorithm: CaKeyAlgorithm;
  readonly validityDays: number;
}

export interface CaLoadResult {
  readonly ca: CertificateAuthority;
  readonly generated: boolean;
  readonly encrypted: boolean;
  readonly certPath: string;
  readonly keyPath: string;
}

/** A CA certificate, the certificates above it, and its private key, as read from PEM files. */
export interface CaFiles {
  readonly certificate: X509Certificate;
  readonly chain: X509Certificate[];
  readonly keyObject: KeyObject;
  readonly encrypted: boolean;
  readonly certPath: string;
  readonly keyPath: string;
}

export function generatedCaPaths(dataDir: string): { cert: string; key: string } {
  return { cert: path.join(dataDir, 'ca', 'ca.crt'), key: path.join(dataDir, 'ca', 'ca.key') };
}

/**
 * Files only, no ledger (benchmarks, unit tests): loads the configured CA, or generates a self-signed
 * root into the data directory on first use. The service resolves its CA through ca-custody instead.
 */
export async function loadOrCreateCa(params: CaKeystoreParams, crypto: Crypto, clock: Clock, serials: SerialSource): Promise<CaLoadResult> {
  const paths = params.certFile && params.keyFile ? { cert: params.certFile, key: params.keyFile } : generatedCaPaths(params.dataDir);
  let generated = false;
  if (!params.certFile && !(await caFilesExist(paths))) {
    const root = await generateRootCa(params, crypto, clock, serials);
    await writeCaFiles(paths, root.certificate, root.keyObject, params.passphrase);
    generated = true;
  }
  const files = await readCaFiles(paths.cert, paths.key, params.certFile ? params.chainFile : undefined, params.passphrase);
  const ca = await caFromKeyObject(files.certificate, files.chain, files.keyObject, crypto);
  return { ca, generated, encrypted: files.encrypted, certPath: paths.cert, keyPath: paths.key };
}

export async function caFilesExist(paths: { cert: string; key: string }): Promise<boolean> {
  const exists = (p: string) => fs.access(p).then(() => true, () => false);
  return (await exists(paths.cert)) && (await exists(paths.key));
}

/** Writes a generated CA as files (the key mode 0600, encrypted PKCS#8 with a passphrase); never overwrites. */
export async function writeCaFiles(paths: { cert: string; key: string }, certificate: X509Certificate, keyObject: KeyObject, passphrase?: string): Promise<void> {
  await fs.mkdir(path.dirname(paths.key), { recursive: true, mode: 0o700 });
  const keyPem = passphrase
    ? keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase })
    : keyObject.export({ format: 'pem', type: 'pkcs8' });
  // 'wx': never overwrite a CA that another process created meanwhile.
  await fs.writeFile(paths.key, keyPem, { mode: 0o600, flag: 'wx' });
  await fs.writeFile(paths.cert, certificate.toString('pem') + '\n', { mode: 0o644, flag: 'wx' });
}

function readCertificates(text: string, source: string): X509Certificate[] {
  const blocks = decodePem(text).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new CaLoadError(`${source} holds no PEM CERTIFICATE`);
  return blocks.map((b) => new X509Certificate(new Uint8Array(b.der)));
}

/** The certificate and the certificates above it, from a PEM chain (the ledger's pin). */
export function readChainPem(chainPem: string, source: string): { certificate: X509Certificate; chain: X509Certificate[] } {
  const [certificate, ...chain] = readCertificates(chainPem, source);
  return { certificate, chain };
}

export function chainPemOf(certificate: X509Certificate, chain: readonly X509Certificate[]): string {
  return [certificate, ...chain].map((c) => encodePem('CERTIFICATE', new Uint8Array(c.rawData))).join('');
}

/** Reads a CA certificate (with bundled or separate chain) and its private key from PEM files. */
export async function readCaFiles(certFile: string, keyFile: string, chainFile: string | undefined, passphrase: string | undefined): Promise<CaFiles> {
  const [certText, keyText] = await Promise.all([fs.readFile(certFile, 'utf8'), fs.readFile(keyFile, 'utf8')]);
  const [certificate, ...bundled] = readCertificates(certText, certFile);
  const chain = chainFile ? readCertificates(await fs.readFile(chainFile, 'utf8'), chainFile) : bundled;
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: keyText, format: 'pem', passphrase: passphrase ?? '' });
  } catch {
    // Never include the key or the passphrase in the message.
    throw new CaLoadError(
      keyText.includes('ENCRYPTED')
        ? `cannot decrypt the CA key in ${keyFile}: CA_KEY_PASSPHRASE is missing or wrong`
        : `cannot read the CA key in ${keyFile}: not a PEM private key`,
    );
  }
  return { certificate, chain, keyObject, encrypted: keyText.includes('ENCRYPTED'), certPath: certFile, keyPath: keyFile };
}

/**
 * The one place a CertificateAuthority is built: checks that the certificate is a CA that may sign
 * certificates and that the key is its key, then imports the key for signing.
 */
export async function caFromKeyObject(certificate: X509Certificate, chain: readonly X509Certificate[], keyObject: KeyObject, crypto: Crypto): Promise<CertificateAuthority> {
  const subject = certificate.subject;
  const basic = certificate.getExtension(BasicConstraintsExtension);
  if (!basic || !basic.ca) throw new CaLoadError(`the certificate "${subject}" is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  const usage = certificate.getExtension(KeyUsagesExtension);
  if (usage && !(usage.usages & KeyUsageFlags.keyCertSign)) {
    throw new CaLoadError(`the certificate "${subject}" may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  const certSpki = Buffer.from(certificate.publicKey.rawData);
  const keySpki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  if (!certSpki.equals(keySpki)) throw new CaLoadError(`the CA key does not match the certificate "${subject}"`);

  const type = keyObject.asymmetricKeyType;
  if (type === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : undefined;
    if (!namedCurve) throw new CaLoadError(`the CA key uses the unsupported curve ${curve}`);
  } else if (type !== 'rsa') {
    throw new CaLoadError(`the CA key type ${type} is not supported (use ECDSA P-256/P-384 or RSA)`);
  }
  const ski = certificate.getExtension(SubjectKeyIdentifierExtension);
  const keyId = ski ? ski.keyId : subjectKeyIdentifier(certSpki);
  return new CertificateAuthority({ certificate, chain, signer: keyObjectSigner(keyObject) }, keyId);
}
