import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, Name, SubjectKeyIdentifierExtension, X509Certificate } from '@peculiar/x509';
import { bitString, sequence } from '../domain/der';
import { subjectKeyIdentifier } from '../domain/issuance-profile';
import type { CaSigner } from './ca-signer';
import { tbsCertificate } from './certificate-template';

export interface SelfSignParams {
  /** RFC 4514 distinguished name, e.g. `CN=mtls-ca Root CA,O=mtls-ca` (CA_SUBJECT). */
  readonly subject: string;
  readonly validityDays: number;
  readonly serialNumber: Uint8Array;
  readonly now: Date;
}

/**
 * A self-signed root for a CA key held by a signer (a token never lets the key out, so the
 * certificate is assembled here and only its TBS is signed): basicConstraints CA:TRUE pathlen 0,
 * keyUsage keyCertSign + cRLSign + digitalSignature (critical), subject key identifier.
 */
export async function selfSignRoot(signer: CaSigner, params: SelfSignParams): Promise<X509Certificate> {
  let name: Buffer;
  try {
    name = Buffer.from(new Name(params.subject).toArrayBuffer());
  } catch (cause) {
    throw new Error(`CA_SUBJECT "${params.subject}" is not a distinguished name (e.g. "CN=Example Root CA,O=Example")`, { cause });
  }
  const notBefore = new Date(Math.floor(params.now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + params.validityDays * 86_400_000);
  const extensions = [
    new BasicConstraintsExtension(true, 0, true),
    new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature, true),
    new SubjectKeyIdentifierExtension(subjectKeyIdentifier(signer.spkiDer), false),
  ].map((e) => Buffer.from(e.rawData));
  const tbs = tbsCertificate({
    serialNumber: params.serialNumber,
    signatureAlgorithmDer: signer.signatureAlgorithmDer,
    issuerDer: name,
    validity: { notBefore, notAfter },
    subjectDer: name,
    spkiDer: signer.spkiDer,
    extensions,
  });
  const der = sequence(tbs, signer.signatureAlgorithmDer, bitString(await signer.sign([tbs])));
  return new X509Certificate(new Uint8Array(der));
}
