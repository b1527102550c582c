import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { caSigningIdentity, issueOcspSigner, publicKeyHash, type OcspSigningIdentity } from '../ca/ocsp-signer';
import type { AuditRecord, AuditSink, UnsequencedEntry } from '../domain/audit-event';
import type { IssuedCertificate } from '../domain/certificate';
import type { CertificateAuthority } from '../ca/certificate-authority';
import type { Clock } from '../domain/clock';
import {
  encodeErrorResponse,
  encodeResponseData,
  encodeSuccessfulResponse,
  OCSP_OID,
  parseOcspRequest,
  type OcspCertStatus,
  type OcspErrorStatus,
  type OcspRequest,
} from '../domain/ocsp';
import type { SerialSource } from '../domain/serial-number';

export interface OcspResponderParams {
  /** nextUpdate - thisUpdate of each answer. */
  readonly validityMs: number;
  /** Sign with the CA key instead of a delegated OCSP signer. */
  readonly signWithCa: boolean;
  /** Lifetime of a delegated signer certificate; a new one is issued when a third of it is left. */
  readonly signerValidityMs: number;
}

/**
 * What an answer said: the certificate's status (for several certificates in one answer, the most
 * telling: revoked, then unknown, then good), or the error status of an unsuccessful answer.
 */
export type OcspAnswerStatus = OcspCertStatus['type'] | OcspErrorStatus;

/** Told of each OCSP answer (metrics); must not throw. */
export interface OcspObserver {
  ocspAnswered(status: OcspAnswerStatus): void;
}

export interface OcspResponderDeps {
  readonly ca: CertificateAuthority;
  /** Status reads, and the record of each delegated signer certificate issued (every issued certificate is in the ledger). */
  readonly ledger: {
    findBySerial(serialNumber: string): Promise<IssuedCertificate | null>;
    insert(cert: IssuedCertificate, audit: UnsequencedEntry): Promise<AuditRecord>;
  };
  /** Each delegated signer certificate is audited as a signing by the service itself. */
  readonly audit: AuditSink;
  /**
   * Changes whenever a revocation commits on any replica (seen within the CRL poll interval, whether or
   * not a CRL could be built); null while unknown, when nothing is cached. Cached answers are keyed on it.
   */
  readonly revocationMark: () => string | null;
  readonly clock: Clock;
  readonly crypto: Crypto;
  readonly serials: SerialSource;
  readonly logger: Logger;
  readonly params: OcspResponderParams;
  readonly observer?: OcspObserver;
}

/**
 * RFC 6960 responder over the ledger: good, revoked (time and reason) or unknown; unauthorized for
 * another issuer; malformedRequest for anything unreadable (a nonce outside 1-32 octets included).
 * Answers without a nonce are cached until a revocation commits (here: before its DELETE answers;
 * elsewhere: when the revocation mark moves) or they near their nextUpdate; a nonce is echoed (and such
 * answers are never cached).
 */
export class OcspResponder {
  private identity: OcspSigningIdentity | null = null;
  private rotating: Promise<OcspSigningIdentity> | null = null;
  private readonly cache = new Map<string, { der: Buffer; status: OcspAnswerStatus; mark: string; until: number }>();
  /** Revocations committed by this process: each one invalidates every cached answer at once. */
  private localRevocations = 0;
  private readonly issuerHashes: Map<string, { name: Buffer; key: Buffer }>;

  constructor(private readonly deps: OcspResponderDeps) {
    const name = Buffer.from(deps.ca.certificate.subjectName.toArrayBuffer());
    const spki = Buffer.from(deps.ca.certificate.publicKey.rawData);
    this.issuerHashes = new Map(
      [
        [OCSP_OID.sha1, 'sha1'],
        [OCSP_OID.sha256, 'sha256'],
      ].map(([oid, alg]) => [oid, { name: createHash(alg).update(name).digest(), key: publicKeyHash(spki, alg) }]),
    );
  }

  async start(): Promise<void> {
    await this.signer();
  }

  /** True when the CertID names this responder's issuer (issuerNameHash and issuerKeyHash). */
  serves(id: Pick<OcspRequest['certIds'][number], 'hashAlgorithm' | 'issuerNameHash' | 'issuerKeyHash'>): boolean {
    const hashes = this.issuerHashes.get(id.hashAlgorithm);
    return Boolean(hashes && hashes.name.equals(id.issuerNameHash) && hashes.key.equals(id.issuerKeyHash));
  }

  /** The delegated signer's certificate in use (null when the CA signs). */
  signerCertificate(): Buffer | null {
    return this.identity?.certificateDer ?? null;
  }

  /**
   * A revocation this process committed: no answer cached before it is served again. Called before the
   * revocation is answered, so an OCSP request that follows the answer never sees a stale `good`.
   */
  revocationCommitted(): void {
    this.localRevocations++;
    this.cache.clear();
  }

  /** Always an OCSPResponse DER, whatever the request. `log`: the request's logger (with its request id). */
  async respond(requestDer: Buffer, log: Logger = this.deps.logger): Promise<Buffer> {
    const { der, status } = await this.answer(requestDer, log);
    this.deps.observer?.ocspAnswered(status);
    return der;
  }

  private async answer(requestDer: Buffer, log: Logger): Promise<{ der: Buffer; status: OcspAnswerStatus }> {
    let request: OcspRequest;
    try {
      request = parseOcspRequest(requestDer);
    } catch {
      return failed('malformedRequest');
    }
    if (!request.certIds.every((id) => this.serves(id))) return failed('unauthorized');
    const cacheable = request.nonceExtension === null && request.certIds.length === 1;
    const cacheKey = cacheable ? request.certIds[0].der.toString('base64') : '';
    // Taken before the status is read: a revocation committed after that read moves the mark.
    const replicaMark = this.deps.revocationMark();
    const mark = replicaMark === null ? null : `${replicaMark}/${this.localRevocations}`;
    const nowMs = this.deps.clock.now().getTime();
    if (cacheable && mark !== null) {
      const hit = this.cache.get(cacheKey);
      if (hit && hit.mark === mark && hit.until > nowMs) return { der: hit.der, status: hit.status };
    }
    try {
      const statuses = await Promise.all(request.certIds.map((id) => this.status(id.serialNumber)));
      const now = new Date(Math.floor(nowMs / 1000) * 1000);
      const nextUpdate = new Date(now.getTime() + this.deps.params.validityMs);
      const signer = await this.signer();
      const data = encodeResponseData({
        responderKeyHash: signer.keyHash,
        producedAt: now,
        responses: request.certIds.map((id, i) => ({ certIdDer: id.der, status: statuses[i], thisUpdate: now, nextUpdate })),
        nonceExtension: request.nonceExtension,
      });
      const signature = await signer.sign(data);
      const der = encodeSuccessfulResponse(data, signer.signatureAlgorithmDer, signature, signer.certificateDer ? [signer.certificateDer] : []);
      const status = mostTelling(statuses);
      if (cacheable && mark !== null) {
        if (this.cache.size >= 100_000) this.cache.clear();
        // Reused until a revocation commits or three quarters of its validity have passed.
        this.cache.set(cacheKey, { der, status, mark, until: now.getTime() + (this.deps.params.validityMs * 3) / 4 });
      }
      return { der, status };
    } catch (err) {
      log.error({ err }, 'OCSP response failed');
      return failed('tryLater');
    }
  }

  private async status(serialNumber: string): Promise<OcspCertStatus> {
    const cert = await this.deps.ledger.findBySerial(serialNumber);
    if (!cert || cert.issuerKeyId !== this.deps.ca.keyId) return { type: 'unknown' };
    if (cert.revocation) return { type: 'revoked', revokedAt: cert.revocation.revokedAt, reason: cert.revocation.reason };
    return { type: 'good' };
  }

  /** The current signer; a delegated one is replaced when a third of its lifetime is left. */
  private async signer(): Promise<OcspSigningIdentity> {
    const { params, ca, clock, logger } = this.deps;
    if (params.signWithCa) return (this.identity ??= caSigningIdentity(ca));
    const current = this.identity;
    const fresh = current?.notAfter && current.notAfter.getTime() - clock.now().getTime() > params.signerValidityMs / 3;
    if (current && fresh) return current;
    if (!this.rotating) {
      this.rotating = this.rotate().finally(() => (this.rotating = null));
      // Handled here as well: nobody may be waiting for it (below), and the ledger may be down (the next answer tries again).
      this.rotating.catch((err) => logger.warn({ err }, 'could not issue and record a new delegated OCSP signer'));
    }
    // An old signer still valid keeps answering while its successor is made.
    if (current && current.notAfter && current.notAfter.getTime() > clock.now().getTime()) return current;
    return this.rotating;
  }

  /** Issues a new delegated signer and records it in the ledger with its audit record; only then is it used. */
  private async rotate(): Promise<OcspSigningIdentity> {
    const { ca, crypto, clock, serials, logger, params } = this.deps;
    const identity = await issueOcspSigner(ca, crypto, clock, serials, params.signerValidityMs);
    const record = identity.record;
    if (record) {
      await this.deps.audit.record(
        {
          action: 'certificate.sign',
          outcome: 'success',
          account: record.account,
          serialNumber: record.serialNumber,
          details: { commonName: record.commonName, purpose: 'ocsp-signer' },
        },
        (entry) => this.deps.ledger.insert(record, entry),
      );
    }
    this.identity = identity;
    logger.info({ notAfter: identity.notAfter }, 'issued a new delegated OCSP signing certificate');
    return identity;
  }
}

function failed(status: OcspErrorStatus): { der: Buffer; status: OcspAnswerStatus } {
  return { der: encodeErrorResponse(status), status };
}

function mostTelling(statuses: OcspCertStatus[]): OcspAnswerStatus {
  if (statuses.some((s) => s.type === 'revoked')) return 'revoked';
  return statuses.some((s) => s.type === 'unknown') ? 'unknown' : 'good';
}
