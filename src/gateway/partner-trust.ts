import { createHash, type X509Certificate } from 'node:crypto';
import type { PartnerTrustSnapshot } from './trust-material-client';

/** What the partners' trust says of a client certificate the gateway's own CA did not issue. */
export type PartnerDecision =
  | { readonly admitted: true; readonly account: string; readonly via: 'anchor' | 'registered'; readonly anchor?: X509Certificate }
  | { readonly admitted: false; readonly reason: string };

const within = (cert: X509Certificate, now: Date): boolean => new Date(cert.validFrom) <= now && now < new Date(cert.validTo);

/**
 * Verifies the peer's certificate in code (the TLS layer asks for any certificate and verifies nothing
 * for partners): a registered certificate matches by the SHA-256 of its exact DER within its validity;
 * otherwise it must be a non-CA certificate issued and signed by one anchor, within its validity. The
 * account is the anchor's or the registration's, never the certificate's OU.
 */
export function decidePartner(peer: X509Certificate, snapshot: PartnerTrustSnapshot, now: Date): PartnerDecision {
  const sha256 = createHash('sha256').update(peer.raw).digest('hex');
  const registered = snapshot.registered.get(sha256);
  if (registered) {
    if (now < registered.notBefore || now >= registered.notAfter || !within(peer, now)) return { admitted: false, reason: 'registered certificate outside its validity' };
    return { admitted: true, account: registered.account, via: 'registered' };
  }
  if (peer.ca) return { admitted: false, reason: 'a CA certificate is not a client certificate' };
  for (const anchor of snapshot.anchors) {
    if (!peer.checkIssued(anchor.certificate) || !peer.verify(anchor.certificate.publicKey)) continue;
    if (!within(peer, now)) return { admitted: false, reason: 'certificate outside its validity' };
    if (!within(anchor.certificate, now)) return { admitted: false, reason: 'the partner CA is outside its validity' };
    return { admitted: true, account: anchor.account, via: 'anchor', anchor: anchor.certificate };
  }
  return { admitted: false, reason: 'not issued by the CA nor by a partner CA, and not registered' };
}
