import { X509Certificate as NodeCertificate } from 'node:crypto';
import { ExtendedKeyUsageExtension, X509Certificate } from '@peculiar/x509';
import { CaError } from '../domain/errors';
import { OID } from '../domain/oids';
import { readPartnerCertificate } from '../domain/partner-certificate';
import { decodePem, encodePem } from '../domain/pem';
import { spkiSha256 } from './ca-identity';

/** At most this many certificates above the leaf. */
export const MAX_CHAIN_LENGTH = 8;
/** A certificate whose notBefore is at most this far ahead (a partner CA's clock) is accepted. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** A client certificate presented for an identity, with the certificates above it (leaf's issuer first). */
export interface IdentityChain {
  readonly leaf: NodeCertificate;
  readonly chain: NodeCertificate[];
}

/** The CERTIFICATE blocks of a PEM text, each as its own PEM; anything else is refused. */
export function certificatePems(text: string, what: string): string[] {
  let blocks;
  try {
    blocks = decodePem(text);
  } catch (e) {
    throw new CaError('invalid-request', `${what}: ${e instanceof CaError ? e.detail : 'not PEM'}`);
  }
  const other = blocks.find((b) => b.label !== 'CERTIFICATE');
  if (other) throw new CaError('invalid-request', `${what}: expected PEM CERTIFICATE blocks, got ${other.label}`);
  if ((text.match(/-----BEGIN /g)?.length ?? 0) !== blocks.length) throw new CaError('invalid-request', `${what}: a PEM block is incomplete`);
  return blocks.map((b) => encodePem('CERTIFICATE', b.der));
}

function readOne(pem: string, what: string, now: Date): NodeCertificate {
  try {
    return new NodeCertificate(readPartnerCertificate(pem, now).der);
  } catch (e) {
    if (e instanceof CaError) throw new CaError(e.kind, `${what}: ${e.detail}`);
    throw e;
  }
}

/**
 * Reads and checks a client certificate for the key whose SPKI hashes to `publicKeySha256`: a valid X.509
 * certificate (not expired, not valid only later, an accepted key), not a CA, for this key, with
 * clientAuth when it names extended key usages; each chain certificate a CA that signed the one below it.
 */
export function checkIdentityChain(leafPem: string, chainPems: readonly string[], publicKeySha256: string, now: Date): IdentityChain {
  if (chainPems.length > MAX_CHAIN_LENGTH) throw new CaError('invalid-request', `chain: at most ${MAX_CHAIN_LENGTH} certificates`);
  const leaf = readOne(leafPem, 'certificate', now);
  const chain = chainPems.map((pem, i) => readOne(pem, `chain[${i}]`, now));
  if (spkiSha256(leaf.publicKey.export({ type: 'spki', format: 'der' })) !== publicKeySha256) {
    throw new CaError('invalid-request', "certificate: its public key is not this identity's key (send the certificate issued for the identity's CSR or key)");
  }
  if (leaf.ca) throw new CaError('invalid-request', 'certificate: a CA certificate (basicConstraints cA=true) is not a client certificate');
  const notBefore = new Date(leaf.validFrom);
  if (notBefore.getTime() > now.getTime() + CLOCK_SKEW_MS) throw new CaError('invalid-request', `certificate: not valid before ${notBefore.toISOString()}; send it from then on`);
  const eku = new X509Certificate(new Uint8Array(leaf.raw)).getExtension(ExtendedKeyUsageExtension);
  if (eku && !eku.usages.map(String).includes(OID.clientAuth)) {
    throw new CaError('invalid-request', 'certificate: its extended key usage does not include clientAuth (1.3.6.1.5.5.7.3.2)');
  }
  [leaf, ...chain].forEach((below, i) => {
    const above = chain[i];
    if (!above) return;
    if (!above.ca) throw new CaError('invalid-request', `chain[${i}]: not a CA certificate (basicConstraints cA=true), so it cannot have signed the one below it`);
    if (!below.checkIssued(above) || !below.verify(above.publicKey)) {
      throw new CaError('invalid-request', `chain[${i}] did not sign ${i === 0 ? 'the certificate' : `chain[${i - 1}]`}: send the chain in order, the leaf's issuer first`);
    }
  });
  return { leaf, chain };
}
