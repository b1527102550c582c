import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import {
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  Pkcs10CertificateRequestGenerator,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  type X509Certificate,
} from '@peculiar/x509';
import type { CaKeyAlgorithm } from './certificate-authority';
import { subjectKeyIdentifier } from '../domain/issuance-profile';
import type { Clock } from '../domain/clock';
import type { SerialSource } from '../domain/serial-number';
import { CaLoadError } from './ca-errors';

export interface RootCaParams {
  /** CA_SUBJECT; unset: `CN=mtls-ca Root CA <6 hex>,O=mtls-ca`, unique per install. */
  readonly subject?: string;
  readonly keyAlgorithm: CaKeyAlgorithm;
  readonly validityDays: number;
}

/** The default subject of a generated root: a random suffix, so two installs never share a CA name. */
export function defaultCaSubject(): string {
  return `CN=mtls-ca Root CA ${randomBytes(3).toString('hex').toUpperCase()},O=mtls-ca`;
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

function parseSubject(subject: string): Name {
  try {
    return new Name(subject);
  } catch (cause) {
    throw new CaLoadError(`CA_SUBJECT "${subject}" is not a distinguished name (e.g. "CN=Example Root CA,O=Example")`, { cause } as ErrorOptions);
  }
}

/** A new self-signed root CA, in memory: where its key goes is the caller's choice. */
export async function generateRootCa(params: RootCaParams, crypto: Crypto, clock: Clock, serials: SerialSource): Promise<{ certificate: X509Certificate; keyObject: KeyObject }> {
  const name = parseSubject(params.subject ?? defaultCaSubject());
  const keys = (await crypto.subtle.generateKey(keyGenParams(params.keyAlgorithm), true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = clock.now();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + params.validityDays * 86_400_000);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  const certificate = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(serials.next()).toString('hex'),
      name,
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
  return { certificate, keyObject: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) };
}

/** A new CA key and a CSR for it, for a root kept offline: the key stays here, the CSR goes to be signed. */
export async function generateCaRequest(params: Omit<RootCaParams, 'validityDays'>, crypto: Crypto): Promise<{ csrPem: string; keyObject: KeyObject }> {
  const name = parseSubject(params.subject ?? defaultCaSubject());
  const keys = (await crypto.subtle.generateKey(keyGenParams(params.keyAlgorithm), true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  const csr = await Pkcs10CertificateRequestGenerator.create(
    {
      name,
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
  return { csrPem: csr.toString('pem'), keyObject: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) };
}
