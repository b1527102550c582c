import { createPrivateKey } from 'node:crypto';
import { CaError } from '../domain/errors';
import { decodePem } from '../domain/pem';
import { legacyProtection } from './legacy-protection';
import { buildPkcs12, modernProtection, PKCS12_ITERATIONS } from './pkcs12-encoder';

export interface Pkcs12Bundle {
  /** The private key, PEM (PKCS#8, or any form Node reads). */
  readonly keyPem: string;
  readonly certificatePem: string;
  /** The certificates above the leaf, concatenated PEM (may be empty). */
  readonly chainPem: string;
  readonly password: string;
  /** `modern`: AES-256-CBC/PBKDF2 and an HMAC-SHA256 MAC (OpenSSL 3, Java 8u301+); `legacy`: 3DES and SHA-1. */
  readonly profile: 'modern' | 'legacy';
  /** The alias Java shows (default: none given, "1"). */
  readonly friendlyName?: string;
}

/** Writes a PKCS#12 bundle (key, leaf, chain) on Node, in either profile. */
export async function encodePkcs12(bundle: Pkcs12Bundle): Promise<Buffer> {
  const certificates = [...decodePem(bundle.certificatePem), ...decodePem(bundle.chainPem)]
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => b.der.buffer.slice(b.der.byteOffset, b.der.byteOffset + b.der.byteLength) as ArrayBuffer);
  if (certificates.length === 0) throw new CaError('invalid-request', 'a PKCS#12 bundle needs the certificate');
  const pkcs8 = createPrivateKey(bundle.keyPem).export({ type: 'pkcs8', format: 'der' });
  const protection = bundle.profile === 'legacy' ? legacyProtection(bundle.password) : modernProtection(bundle.password, PKCS12_ITERATIONS);
  const der = await buildPkcs12(
    { privateKeyPkcs8: pkcs8.buffer.slice(pkcs8.byteOffset, pkcs8.byteOffset + pkcs8.byteLength) as ArrayBuffer, certificates, friendlyName: bundle.friendlyName ?? '1' },
    protection,
  );
  return Buffer.from(der);
}
