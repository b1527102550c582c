import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import { decodePem, encodePem } from '../domain/pem';

/**
 * The CA the gateway trusts for client certificates: the issuing CA first, then its chain (the
 * format of mtls-ca's /ca.pem). From GATEWAY_CA_FILE when given (pinned: nothing on the network can
 * change it), else fetched once from GATEWAY_CA_URL. With GATEWAY_CA_FINGERPRINT the issuing CA must
 * have that SHA-256 fingerprint, whichever way it came; either way every further certificate must be
 * the issuer of the one before it, so no unrelated CA can ride along.
 */
export interface TrustedCa {
  /** Issuing CA and chain, PEM, for the TLS context. */
  readonly pem: string;
  /** The first issuing CA (the active issuer of mtls-ca's trust bundle). */
  readonly issuer: X509Certificate;
  /**
   * Every issuing CA of the bundle (mtls-ca after a rotation: the active, pending and retired issuers,
   * each followed by its own chain): client certificates and CRLs must be signed by one of them.
   */
  readonly issuers: readonly X509Certificate[];
  readonly source: string;
}

/** The issuer of `peer` among the trusted ones (named and signed by it), or null. */
export function trustedIssuerOf(trust: Pick<TrustedCa, 'issuers'>, peer: X509Certificate): X509Certificate | null {
  return trust.issuers.find((i) => peer.checkIssued(i) && peer.verify(i.publicKey)) ?? null;
}

export class CaTrustError extends Error {}

export interface CaTrustParams {
  readonly caFile?: string;
  readonly caUrl: string;
  /** Lower-case hex without colons. */
  readonly fingerprint?: string;
}

export async function loadTrustedCa(params: CaTrustParams): Promise<TrustedCa> {
  let text: string;
  let source: string;
  if (params.caFile) {
    source = params.caFile;
    text = await fs.readFile(params.caFile, 'utf8').catch((e: Error) => {
      throw new CaTrustError(`GATEWAY_CA_FILE: ${e.message}`);
    });
  } else {
    source = new URL('/ca.pem', params.caUrl).toString();
    const res = await fetch(source);
    if (!res.ok) throw new CaTrustError(`GET ${source} answered ${res.status}`);
    text = await res.text();
  }
  let certs: X509Certificate[];
  try {
    certs = decodePem(text)
      .filter((b) => b.label === 'CERTIFICATE')
      .map((b) => new X509Certificate(b.der));
  } catch (e) {
    throw new CaTrustError(`${source} does not hold PEM certificates: ${(e as Error).message}`);
  }
  if (certs.length === 0) throw new CaTrustError(`${source} holds no certificate`);
  const [issuer] = certs;
  if (params.fingerprint) {
    const actual = fingerprintOf(issuer);
    if (actual !== params.fingerprint) throw new CaTrustError(`the CA from ${source} has SHA-256 fingerprint ${actual}, not GATEWAY_CA_FINGERPRINT ${params.fingerprint}`);
  }
  // A trust bundle holds several issuers, each followed by its chain: a certificate that did not issue the
  // one before it starts the next issuer. Accepted only from a file the operator gave, or fetched unpinned;
  // fetched under a fingerprint pin, only the pinned CA and its own chain (nothing may ride along).
  const issuers: X509Certificate[] = [issuer];
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!certs[i].checkIssued(certs[i + 1]) || !certs[i].verify(certs[i + 1].publicKey)) {
      if (params.fingerprint && !params.caFile) {
        throw new CaTrustError(`${source}: certificate ${i + 2} did not issue certificate ${i + 1}; only the pinned CA and its own chain are accepted (after a CA rotation, give the bundle in GATEWAY_CA_FILE)`);
      }
      issuers.push(certs[i + 1]);
    }
  }
  if (!certs.every((c) => c.ca)) throw new CaTrustError(`${source} holds a certificate that is not a CA`);
  return { pem: certs.map((c) => encodePem('CERTIFICATE', c.raw)).join(''), issuer, issuers, source };
}

/** SHA-256 of the certificate's DER, lower-case hex without colons. */
export function fingerprintOf(cert: X509Certificate): string {
  return cert.fingerprint256.replace(/:/g, '').toLowerCase();
}

/** True for http:// to anything but a loopback address or localhost. */
export function isPlainHttpOffHost(url: string): boolean {
  const u = new URL(url);
  if (u.protocol !== 'http:') return false;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return false;
  if (isIP(host) === 4) return !host.startsWith('127.');
  if (isIP(host) === 6) return host !== '::1' && !/^::ffff:127\./i.test(host);
  return true;
}
