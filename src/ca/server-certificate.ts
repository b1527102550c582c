import { isIP } from 'node:net';
import { ExtendedKeyUsageExtension, SubjectAlternativeNameExtension } from '@peculiar/x509';
import type { IssuedCertificate } from '../domain/certificate';
import type { Clock } from '../domain/clock';
import { OID } from '../domain/oids';
import { SYSTEM_ACCOUNT } from '../domain/permissions';
import type { SerialSource } from '../domain/serial-number';
import type { CertificateAuthority } from './certificate-authority';
import { issueServiceCertificate } from './service-certificate';

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
  const issued = await issueServiceCertificate(ca, crypto, clock, serials, {
    subject: { CN: names[0], OU: SYSTEM_ACCOUNT },
    commonName: names[0],
    extensions: [
      new ExtendedKeyUsageExtension([OID.serverAuth], false),
      new SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })), false),
    ],
    validityMs,
    requestedBy: 'system:tls-server',
  });
  return {
    keyPem: issued.key.export({ type: 'pkcs8', format: 'pem' }) as string,
    certChainPem: issued.pem + ca.chainPem,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    record: issued.record,
  };
}
