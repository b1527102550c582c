import { createHash, KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
} from '@peculiar/x509';
import type { IssuedCertificate } from '../domain/certificate';
import type { Clock } from '../domain/clock';
import { subjectKeyIdentifier } from '../domain/issuance-profile';
import { OID } from '../domain/oids';
import { SYSTEM_ACCOUNT } from '../domain/permissions';
import { serialToHex, type SerialSource } from '../domain/serial-number';
import type { CertificateAuthority } from './certificate-authority';
import { tbsCertificate } from './certificate-template';
import { encodeSubject } from './subject-name';

/** The service's own TLS server identity: a key kept in memory only and its certificate from the CA. */
export interface ServerIdentity {
  /** PKCS#8 PEM of the key (never stored, never logged). */
  readonly keyPem: string;
  /** The server certificate followed by the CA chain, PEM. */
  readonly certChainPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Its ledger entry, under the reserved system account. */
  readonly record: IssuedCertificate;
}

/**
 * Issues a TLS server certificate to the service itself for `names` (DNS names and IP addresses, as
 * subjectAltName), with a new P-256 key, signed through the CA's signer; like the delegated OCSP signer,
 * each replica has its own.
 */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  crypto: Crypto,
  clock: Clock,
  serials: SerialSource,
  names: readonly string[],
  validityMs: number,
): Promise<ServerIdentity> {
  if (names.length === 0) throw new Error('a server certificate needs at least one name');
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  const key = KeyObject.from(keys.privateKey);
  const now = clock.now();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 300_000);
  const notAfter = new Date(Math.min(now.getTime() + validityMs, ca.notAfter.getTime()));
  const commonName = names[0];
  const serialNumber = serials.next();
  const extensions = [
    new BasicConstraintsExtension(false, undefined, true),
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
    new ExtendedKeyUsageExtension([OID.serverAuth], false),
    new SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })), false),
    new SubjectKeyIdentifierExtension(subjectKeyIdentifier(spki), false),
    new AuthorityKeyIdentifierExtension(ca.keyId, false),
  ].map((e) => Buffer.from(e.rawData));
  const tbs = tbsCertificate({
    serialNumber,
    signatureAlgorithmDer: ca.signatureAlgorithmDer,
    issuerDer: ca.issuerDer,
    validity: { notBefore, notAfter },
    subjectDer: encodeSubject({ CN: commonName, OU: SYSTEM_ACCOUNT }),
    spkiDer: spki,
    extensions,
  });
  const cert = new X509Certificate(new Uint8Array(await ca.signCertificate(tbs)));
  const pem = `${cert.toString('pem')}\n`;
  return {
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    certChainPem: pem + ca.chainPem,
    notBefore,
    notAfter,
    record: {
      serialNumber: serialToHex(serialNumber),
      account: SYSTEM_ACCOUNT,
      commonName,
      subject: cert.subject,
      publicKeySha256: createHash('sha256').update(spki).digest('hex'),
      notBefore,
      notAfter,
      issuerKeyId: ca.keyId,
      pem,
      issuedAt: now,
      requestedBy: 'system:tls-server',
      revocation: null,
    },
  };
}
