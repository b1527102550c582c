import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
import { keyObjectSigner } from './ca-signer';
import { CertificateAuthority, type CaKeyAlgorithm } from './certificate-authority';
import { subjectKeyIdentifier } from '../domain/issuance-profile';
import { decodePem } from '../domain/pem';
import type { Clock } from '../domain/clock';
import type { SerialSource } from '../domain/serial-number';

/** Where the CA comes from: files given by the operator, or generated once into the data directory. */
export interface CaKeystoreParams {
  readonly dataDir: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly chainFile?: string;
  readonly passphrase?: string;
  readonly subject: string;
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

export class CaLoadError extends Error {}

export function generatedCaPaths(dataDir: string): { cert: string; key: string } {
  return { cert: path.join(dataDir, 'ca', 'ca.crt'), key: path.join(dataDir, 'ca', 'ca.key') };
}

/** Loads the configured CA, or generates a self-signed root on first start. Refuses a mismatched or non-CA pair. */
export async function loadOrCreateCa(params: CaKeystoreParams, crypto: Crypto, clock: Clock, serials: SerialSource): Promise<CaLoadResult> {
  if (params.certFile && params.keyFile) {
    const ca = await loadCa(params.certFile, params.keyFile, params.chainFile, params.passphrase, crypto);
    return { ca, generated: false, encrypted: await isEncrypted(params.keyFile), certPath: params.certFile, keyPath: params.keyFile };
  }
  const paths = generatedCaPaths(params.dataDir);
  let generated = false;
  if (!(await exists(paths.cert)) || !(await exists(paths.key))) {
    await generateCa(params, paths, crypto, clock, serials);
    generated = true;
  }
  const ca = await loadCa(paths.cert, paths.key, undefined, params.passphrase, crypto);
  return { ca, generated, encrypted: await isEncrypted(paths.key), certPath: paths.cert, keyPath: paths.key };
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

async function isEncrypted(keyFile: string): Promise<boolean> {
  const text = await fs.readFile(keyFile, 'utf8');
  return text.includes('ENCRYPTED');
}

function keyGenParams(alg: CaKeyAlgorithm): RsaHashedKeyGenParams | EcKeyGenParams {
  switch (alg) {
    case 'ECDSA-P256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ECDSA-P384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    default:
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: Number(alg.slice(4)),
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      };
  }
}

async function generateCa(
  params: CaKeystoreParams,
  paths: { cert: string; key: string },
  crypto: Crypto,
  clock: Clock,
  serials: SerialSource,
): Promise<void> {
  await fs.mkdir(path.dirname(paths.key), { recursive: true, mode: 0o700 });
  const keys = (await crypto.subtle.generateKey(keyGenParams(params.keyAlgorithm), true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = clock.now();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + params.validityDays * 86_400_000);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(serials.next()).toString('hex'),
      name: parseSubject(params.subject),
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: keys.privateKey.algorithm.name === 'ECDSA'
        ? { name: 'ECDSA', hash: params.keyAlgorithm === 'ECDSA-P384' ? 'SHA-384' : 'SHA-256' }
        : { name: 'RSASSA-PKCS1-v1_5' },
      extensions: [
        new BasicConstraintsExtension(true, 0, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature, true),
        new SubjectKeyIdentifierExtension(subjectKeyIdentifier(spki), false),
      ],
    },
    crypto,
  );
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyObject = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const keyPem = params.passphrase
    ? keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: params.passphrase })
    : keyObject.export({ format: 'pem', type: 'pkcs8' });
  // 'wx': never overwrite a CA that another process created meanwhile.
  await fs.writeFile(paths.key, keyPem, { mode: 0o600, flag: 'wx' });
  await fs.writeFile(paths.cert, cert.toString('pem') + '\n', { mode: 0o644, flag: 'wx' });
}

function parseSubject(subject: string): Name {
  try {
    return new Name(subject);
  } catch (cause) {
    throw new CaLoadError(`CA_SUBJECT "${subject}" is not a distinguished name (e.g. "CN=Example Root CA,O=Example")`, { cause } as ErrorOptions);
  }
}

function readCertificates(text: string, file: string): X509Certificate[] {
  const blocks = decodePem(text).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new CaLoadError(`${file} holds no PEM CERTIFICATE`);
  return blocks.map((b) => new X509Certificate(new Uint8Array(b.der)));
}

async function loadCa(certFile: string, keyFile: string, chainFile: string | undefined, passphrase: string | undefined, crypto: Crypto) {
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

  const basic = certificate.getExtension(BasicConstraintsExtension);
  if (!basic || !basic.ca) throw new CaLoadError(`${certFile} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  const usage = certificate.getExtension(KeyUsagesExtension);
  if (usage && !(usage.usages & KeyUsageFlags.keyCertSign)) {
    throw new CaLoadError(`${certFile} may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  const certSpki = Buffer.from(certificate.publicKey.rawData);
  const keySpki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  if (!certSpki.equals(keySpki)) throw new CaLoadError(`the CA key in ${keyFile} does not match the certificate in ${certFile}`);

  const type = keyObject.asymmetricKeyType;
  let importParams: RsaHashedImportParams | EcKeyImportParams;
  if (type === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : undefined;
    if (!namedCurve) throw new CaLoadError(`the CA key uses the unsupported curve ${curve}`);
    importParams = { name: 'ECDSA', namedCurve };
  } else if (type === 'rsa') {
    importParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw new CaLoadError(`the CA key type ${type} is not supported (use ECDSA P-256/P-384 or RSA)`);
  }
  const ski = certificate.getExtension(SubjectKeyIdentifierExtension);
  const keyId = ski ? ski.keyId : subjectKeyIdentifier(certSpki);
  return new CertificateAuthority({ certificate, chain, signer: keyObjectSigner(keyObject) }, keyId);
}
