/**
 * The PKCS#12 tester ("P12 tester"): decrypts an uploaded file and says whether it is a usable mTLS
 * client identity — which JDKs load it, whether its one key matches the leaf, the chain, the leaf's
 * validity and EKU — and, with a target, tries a live mTLS handshake with it. Nothing is stored.
 */
import { createPublicKey, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import type { Clock } from '../domain/clock';
import { OID } from '../domain/oids';
import { encodePem } from '../domain/pem';
import { classifyTransportError, type ProxyErrorType } from '../outbound/outbound-error';
import type { HandshakeResult, OutboundRequest } from '../outbound/connector';
import { javaCompatibility, type JdkVerdict } from '../pkcs12/java-compatibility';
import { decodePkcs12OffThread } from '../pkcs12/pkcs12-decode-off-thread';
import { type Pkcs12BagAttributes, type Pkcs12Certificate, type Pkcs12Contents, type Pkcs12Key } from '../pkcs12/pkcs12-decoder';

/** The connector's handshake (OutboundConnector satisfies it). */
export interface HandshakeProbe {
  handshake(req: Pick<OutboundRequest, 'url' | 'clientTls' | 'serverCaPem'> & { probe?: boolean }): Promise<HandshakeResult>;
}

export interface CertificateSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  /** Null when Node cannot make a date of it (a malformed validity). */
  readonly notBefore: string | null;
  readonly notAfter: string | null;
  readonly sha256: string;
  readonly friendlyName?: string;
  readonly localKeyId?: string;
}

export interface Pkcs12TestReport {
  readonly protection: {
    readonly mac: Pkcs12Contents['mac'];
    readonly safes: Pkcs12Contents['safes'];
    readonly keys: readonly { readonly bagType: Pkcs12Key['bagType']; readonly encryption: Pkcs12Key['encryption'] }[];
  };
  readonly javaCompatibility: readonly JdkVerdict[];
  readonly keys: readonly (KeyDescription & { readonly matchesLeaf: boolean; readonly friendlyName?: string; readonly localKeyId?: string })[];
  readonly leaf: (CertificateSummary & { readonly validNow: boolean; readonly clientAuth: boolean; readonly key: KeyDescription }) | null;
  readonly chain: {
    readonly certificates: readonly (CertificateSummary & { readonly signedByNext: boolean | null; readonly selfSigned: boolean })[];
    /** The issuer of the last certificate when it is not in the file (null: the chain ends at a self-signed root). */
    readonly missingIssuer: string | null;
    /** Certificates in the file that are not on the leaf's chain. */
    readonly unrelated: readonly CertificateSummary[];
  };
  readonly handshake: HandshakeReport | null;
  readonly warnings: readonly string[];
}

export interface HandshakeReport {
  readonly target: string;
  readonly outcome: 'ok' | 'refused' | 'failed';
  /** RFC 9209 Proxy-Status error type when not ok. */
  readonly error?: ProxyErrorType | 'client_certificate_refused';
  readonly detail?: string;
  readonly protocol?: string | null;
  readonly cipher?: string;
  readonly serverSubject?: string;
  readonly httpStatus?: number;
}

export interface Pkcs12TestParams {
  readonly file: Uint8Array;
  readonly password: string;
  readonly target?: string;
  /** PEM trust anchors for the target's server certificate (default: the system store). */
  readonly serverCaPem?: string;
}

/** Answers a server gives when it refuses the client certificate (nginx: 400, 495, 496). */
const REFUSAL_STATUSES = new Set([400, 403, 495, 496]);
const EXPIRY_WARNING_MS = 30 * 86_400_000;

/** A key as the report shows it (any type: the tester reports what it finds, policy is not its business). */
export interface KeyDescription {
  /** 'rsa', 'ec', 'ed25519', … */
  readonly type: string;
  readonly bits?: number;
  readonly curve?: string;
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function describeKey(key: KeyObject): KeyDescription {
  const details = key.asymmetricKeyDetails ?? {};
  return {
    type: key.asymmetricKeyType ?? 'unknown',
    ...(details.modulusLength !== undefined ? { bits: details.modulusLength } : {}),
    ...(details.namedCurve !== undefined ? { curve: CURVES[details.namedCurve] ?? details.namedCurve } : {}),
  };
}

function spkiHex(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'der' }).toString('hex');
}

/** The certificate's public key as SPKI hex, or null when Node cannot read the key (an unknown algorithm). */
function certificateSpki(cert: X509Certificate): string | null {
  try {
    return spkiHex(cert.publicKey);
  } catch {
    return null;
  }
}

function summary(cert: X509Certificate, attributes?: Pkcs12BagAttributes): CertificateSummary {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: isoOrNull(cert.validFrom),
    notAfter: isoOrNull(cert.validTo),
    sha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    ...(attributes?.friendlyName !== undefined ? { friendlyName: attributes.friendlyName } : {}),
    ...(attributes?.localKeyId !== undefined ? { localKeyId: attributes.localKeyId } : {}),
  };
}

function isoOrNull(text: string): string | null {
  const time = Date.parse(text);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false; // a key or signature algorithm Node cannot use
  }
}

/** The leaf: the certificate of the key (one key), else the one sharing a key's localKeyId, else the first that issues nothing else. */
function findLeaf(contents: Pkcs12Contents): Pkcs12Certificate | null {
  const certs = contents.certificates;
  for (const key of contents.keys) {
    const spki = spkiHex(createPublicKey(key.privateKey));
    const match = certs.find((c) => certificateSpki(c.certificate) === spki);
    if (match) return match;
  }
  for (const key of contents.keys) {
    const match = key.attributes.localKeyId && certs.find((c) => c.attributes.localKeyId === key.attributes.localKeyId);
    if (match) return match;
  }
  return certs.find((c) => !certs.some((o) => o !== c && issuedBy(o.certificate, c.certificate))) ?? certs[0] ?? null;
}

export class Pkcs12Tester {
  constructor(private readonly deps: { clock: Clock; connector: HandshakeProbe }) {}

  /** Decrypts and judges the file (422 invalid-pkcs12 when it cannot be read), then tries the target. */
  async test(params: Pkcs12TestParams): Promise<Pkcs12TestReport> {
    const contents = await decodePkcs12OffThread(params.file, params.password);
    const report = this.analyse(contents);
    if (!params.target) return report;
    const handshake = await this.handshake(contents, report, params.target, params.serverCaPem);
    const warnings = [...report.warnings];
    if (handshake.outcome !== 'ok') warnings.push(`the handshake with ${handshake.target} did not succeed: ${handshake.error}`);
    return { ...report, handshake, warnings };
  }

  analyse(contents: Pkcs12Contents): Pkcs12TestReport {
    const warnings: string[] = [];
    const now = this.deps.clock.now().getTime();
    const leafEntry = findLeaf(contents);
    const leafSpki = leafEntry ? certificateSpki(leafEntry.certificate) : null;

    const keys = contents.keys.map((k) => ({
      ...describeKey(k.privateKey),
      matchesLeaf: leafSpki !== null && spkiHex(createPublicKey(k.privateKey)) === leafSpki,
      ...(k.attributes.friendlyName !== undefined ? { friendlyName: k.attributes.friendlyName } : {}),
      ...(k.attributes.localKeyId !== undefined ? { localKeyId: k.attributes.localKeyId } : {}),
    }));
    if (keys.length === 0) warnings.push('the file holds no private key');
    if (keys.length > 1) warnings.push(`the file holds ${keys.length} private keys; a client identity has exactly one`);
    if (keys.length > 0 && !keys.some((k) => k.matchesLeaf)) warnings.push("no private key matches the leaf certificate's public key");
    if (!leafEntry) warnings.push('the file holds no certificate');

    // The chain, leaf first: each next certificate is the one that issued the previous.
    const chain: X509Certificate[] = [];
    const onChain = new Set<Pkcs12Certificate>();
    let missingIssuer: string | null = null;
    if (leafEntry) {
      let current = leafEntry;
      chain.push(current.certificate);
      onChain.add(current);
      for (;;) {
        if (issuedBy(current.certificate, current.certificate)) break; // self-signed root
        const issuer = contents.certificates.find((c) => !onChain.has(c) && issuedBy(current.certificate, c.certificate));
        if (!issuer) {
          missingIssuer = current.certificate.issuer.replace(/\n/g, ', ');
          break;
        }
        chain.push(issuer.certificate);
        onChain.add(issuer);
        current = issuer;
      }
    }
    const attributesOf = (cert: X509Certificate) => contents.certificates.find((c) => c.certificate === cert)?.attributes;
    const chainReport = chain.map((cert, i) => ({
      ...summary(cert, attributesOf(cert)),
      signedByNext: i + 1 < chain.length ? issuedBy(cert, chain[i + 1]) : null,
      selfSigned: issuedBy(cert, cert),
    }));
    const unrelated = contents.certificates.filter((c) => !onChain.has(c)).map((c) => summary(c.certificate, c.attributes));
    if (missingIssuer && chain.length > 0) {
      warnings.push(
        chain.length === 1
          ? `the file has no intermediate: the leaf's issuer (${missingIssuer}) must be known to the server`
          : `the chain ends at ${chainReport[chainReport.length - 1].subject}; its issuer (${missingIssuer}) is not in the file`,
      );
    }
    if (unrelated.length > 0) warnings.push(`${unrelated.length} certificate(s) in the file are not on the leaf's chain`);

    let leaf: Pkcs12TestReport['leaf'] = null;
    if (leafEntry) {
      const cert = leafEntry.certificate;
      const notBefore = Date.parse(cert.validFrom);
      const notAfter = Date.parse(cert.validTo);
      const validNow = notBefore <= now && now <= notAfter; // false when either is NaN
      const eku = cert.keyUsage; // Node: the extended key usage OIDs (undefined: no EKU extension)
      const clientAuth = eku === undefined || eku.includes(OID.clientAuth);
      let key: KeyDescription = { type: 'unknown' };
      try {
        key = describeKey(cert.publicKey);
      } catch {
        warnings.push("the leaf certificate's key algorithm is not one Node reads");
      }
      leaf = { ...summary(cert, leafEntry.attributes), validNow, clientAuth, key };
      if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) warnings.push("the leaf certificate's validity dates cannot be read");
      else if (now < notBefore) warnings.push('the leaf certificate is not valid yet');
      else if (now > notAfter) warnings.push('the leaf certificate has expired');
      else if (notAfter - now < EXPIRY_WARNING_MS) warnings.push('the leaf certificate expires within 30 days');
      if (!clientAuth) warnings.push('the leaf certificate has an extended key usage without clientAuth: servers refuse it as a client certificate');
      if (cert.ca) warnings.push('the leaf certificate is a CA certificate');
    }

    warnings.push(...protectionWarnings(contents));
    const java = javaCompatibility(contents);
    for (const v of java) {
      if (v.loads !== 'yes') warnings.push(`Java (${v.description}) ${v.loads === 'no' ? 'cannot use' : 'may not load'} this file: ${v.reasons[0]}`);
    }
    return {
      protection: { mac: contents.mac, safes: contents.safes, keys: contents.keys.map((k) => ({ bagType: k.bagType, encryption: k.encryption })) },
      javaCompatibility: java,
      keys,
      leaf,
      chain: { certificates: chainReport, missingIssuer, unrelated },
      handshake: null,
      warnings,
    };
  }

  private async handshake(contents: Pkcs12Contents, report: Pkcs12TestReport, target: string, serverCaPem?: string): Promise<HandshakeReport> {
    const key = contents.keys.find((_, i) => report.keys[i].matchesLeaf);
    const chain = report.chain.certificates;
    if (!key || chain.length === 0) return { target, outcome: 'failed', error: 'http_request_error', detail: 'the file has no key matching its certificate to present' };
    const pem = (sha256: string) => {
      const entry = contents.certificates.find((c) => c.certificate.fingerprint256.replace(/:/g, '').toLowerCase() === sha256)!;
      return encodePem('CERTIFICATE', entry.der);
    };
    // The trust anchor, if the file has it, is left out: the server has its own.
    const above = chain.slice(1).filter((c) => !c.selfSigned).map((c) => pem(c.sha256));
    try {
      const result = await this.deps.connector.handshake({
        url: target,
        serverCaPem,
        probe: true,
        clientTls: {
          identityId: `pkcs12-test-${randomUUID()}`,
          account: '-',
          keyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          certificatePem: pem(chain[0].sha256),
          chainPem: above,
          version: randomUUID(),
        },
      });
      const refused = result.httpStatus !== undefined && REFUSAL_STATUSES.has(result.httpStatus);
      return {
        target,
        outcome: refused ? 'refused' : 'ok',
        ...(refused ? { error: 'client_certificate_refused' as const, detail: `the server answered ${result.httpStatus}, which servers such as nginx answer when they refuse the client certificate` } : {}),
        protocol: result.protocol,
        cipher: result.cipher,
        serverSubject: result.serverSubject,
        httpStatus: result.httpStatus,
      };
    } catch (caught) {
      // Whatever the attempt threw (a serverCa Node cannot read, too), it is the report's, not a 5xx.
      const err = classifyTransportError(caught);
      const refused = err.type === 'tls_alert_received' || err.type === 'destination_ip_prohibited' || err.type === 'http_request_denied';
      return { target, outcome: refused ? 'refused' : 'failed', error: err.type, detail: err.message };
    }
  }
}

/** Weak or missing protection, in words. */
function protectionWarnings(contents: Pkcs12Contents): string[] {
  const out: string[] = [];
  if (!contents.mac) out.push('the file has no MAC: nothing protects its integrity, and a wrong password is not detected');
  else if (contents.mac.algorithm === 'HMAC-SHA1') out.push('the MAC is HMAC-SHA1 (legacy)');
  if (contents.mac && contents.mac.iterations < 1000) out.push(`the MAC uses only ${contents.mac.iterations} iteration(s)`);
  const seen = new Set<string>();
  for (const e of [...contents.safes.map((s) => s.encryption), ...contents.keys.map((k) => k.encryption)]) {
    if (!e || seen.has(e.oid)) continue;
    seen.add(e.oid);
    if (e.oid === '1.2.840.113549.1.12.1.6') out.push('certificates are encrypted with pbeWithSHAAnd40BitRC2-CBC (40-bit RC2: weak; OpenSSL 3 reads it only with -legacy)');
    else if (e.name !== 'PBES2') out.push(`${e.name} is a legacy encryption (SHA-1 key derivation)`);
  }
  if (contents.keys.some((k) => k.encryption === null && !contents.safes[k.safeIndex]?.encryption)) out.push('a private key is stored unencrypted');
  if (contents.otherBags.length > 0) out.push(`other bags ignored: ${contents.otherBags.join(', ')}`);
  return out;
}
