import { createHash, X509Certificate as NodeCertificate } from 'node:crypto';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509Certificate } from '@peculiar/x509';
import { CaError } from './errors';
import { decodeSinglePem, encodePem } from './pem';

/** A partner's certificate as the trust registry keeps it: the parsed facts and its canonical PEM. */
export interface PartnerCertificate {
  readonly pem: string;
  readonly der: Buffer;
  /** SHA-256 of the DER, hex. */
  readonly sha256: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly canSignCertificates: boolean;
}

const MIN_RSA_BITS = 2048;
const ALLOWED_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/** Parses one PEM certificate and refuses what no partner may register: not PEM, garbage, weak keys, expired. */
export function readPartnerCertificate(text: unknown, now: Date): PartnerCertificate {
  if (typeof text !== 'string' || text.length === 0) throw new CaError('invalid-request', 'certificate must be a PEM string');
  let der: Buffer;
  try {
    const block = decodeSinglePem(text);
    if (block.label !== 'CERTIFICATE') throw new CaError('invalid-request', `expected a PEM CERTIFICATE block, got ${block.label}`);
    der = block.der;
  } catch (e) {
    if (e instanceof CaError) throw new CaError('invalid-request', `certificate: ${e.message}`);
    throw e;
  }
  let cert: X509Certificate;
  let node: NodeCertificate;
  try {
    cert = new X509Certificate(new Uint8Array(der));
    node = new NodeCertificate(der);
  } catch {
    throw new CaError('invalid-request', 'certificate is not a valid X.509 certificate');
  }
  const key = node.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    if ((details.modulusLength ?? 0) < MIN_RSA_BITS) throw new CaError('key-not-allowed', `an RSA key must have at least ${MIN_RSA_BITS} bits`);
  } else if (key.asymmetricKeyType === 'ec') {
    if (!ALLOWED_CURVES.has(details.namedCurve ?? '')) throw new CaError('key-not-allowed', `the EC curve ${details.namedCurve ?? '?'} is not allowed`);
  } else if (key.asymmetricKeyType !== 'ed25519') {
    throw new CaError('key-not-allowed', `${key.asymmetricKeyType ?? 'this'} keys are not allowed`);
  }
  const notBefore = new Date(node.validFrom);
  const notAfter = new Date(node.validTo);
  if (notAfter.getTime() <= now.getTime()) throw new CaError('invalid-request', `the certificate expired at ${notAfter.toISOString()}`);
  const basic = cert.getExtension(BasicConstraintsExtension);
  const usage = cert.getExtension(KeyUsagesExtension);
  return {
    pem: encodePem('CERTIFICATE', der),
    der,
    sha256: createHash('sha256').update(der).digest('hex'),
    subject: node.subject.replace(/\n/g, ', '),
    notBefore,
    notAfter,
    isCa: basic?.ca === true,
    canSignCertificates: usage ? (usage.usages & KeyUsageFlags.keyCertSign) !== 0 : false,
  };
}

/** A trust anchor must be a CA certificate (basicConstraints cA=true, keyUsage keyCertSign), self-signature valid when self-issued. */
export function readTrustAnchor(text: unknown, now: Date): PartnerCertificate {
  const cert = readPartnerCertificate(text, now);
  if (!cert.isCa) throw new CaError('invalid-request', 'a trust anchor must be a CA certificate (basicConstraints cA=true); this is a leaf');
  if (!cert.canSignCertificates) throw new CaError('invalid-request', 'a trust anchor must have keyUsage keyCertSign');
  const node = new NodeCertificate(cert.der);
  if (node.checkIssued(node) && !node.verify(node.publicKey)) throw new CaError('invalid-request', 'the CA certificate signature does not verify');
  return cert;
}

/** A directly registered client certificate: any valid certificate that is not a CA. */
export function readClientCertificate(text: unknown, now: Date): PartnerCertificate {
  const cert = readPartnerCertificate(text, now);
  if (cert.isCa) throw new CaError('invalid-request', 'register a CA certificate as a trust anchor, not as a client certificate');
  return cert;
}
