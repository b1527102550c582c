import { createHash, X509Certificate as NodeX509 } from 'node:crypto';
import { X509Certificate as PeculiarX509 } from '@peculiar/x509';
import type { AuditOrigin, AuditRecord, UnsequencedEntry } from '../domain/audit-event';
import type { IssuanceRequest } from '../ca/issuer';
import type { IssuedCertificate, Revocation } from '../domain/certificate';
import type { Clock } from '../domain/clock';
import { checkCertificateRequest, csrDerFromBody } from '../domain/csr-policy';
import { CaError } from '../domain/errors';
import { decodeSinglePem } from '../domain/pem';
import { isReservedAccount } from '../domain/permissions';
import type { RevocationReason } from '../domain/revocation-reasons';
import { normalizeSerialNumber } from '../domain/serial-number';
import type { AuditTrail } from './audit-trail';
import type { RateLimiter, RateRule } from './rate-limiter';
import type { SigningService } from './signing-service';

/** The part of the ledger renewal needs. */
export interface RenewalLedger {
  findBySerial(serialNumber: string): Promise<IssuedCertificate | null>;
  /** The certificate a renewal already issued from `serialNumber`, if any. */
  findRenewalOf(serialNumber: string): Promise<IssuedCertificate | null>;
  /** The new row (naming the old), the old one's revocation when asked, and the audit record: one transaction. */
  insertRenewal(cert: IssuedCertificate, audit: UnsequencedEntry, revokeOld: Revocation | null): Promise<AuditRecord>;
}

export interface RenewalParams {
  /** How long after notAfter an expired certificate may still renew itself (0: not at all). */
  readonly afterExpiryMs: number;
  /** At most one renewal of a given certificate per this many ms (0: no limit). */
  readonly minIntervalMs: number;
}

export interface RenewalServiceDeps {
  /** Whether one of this CA's issuers (active, pending or retired) issued this certificate: name and signature. */
  issuedHere(certificateDer: Uint8Array): Promise<boolean>;
  readonly signing: SigningService;
  readonly ledger: RenewalLedger;
  readonly clock: Clock;
  readonly audit: AuditTrail;
  readonly limiter: RateLimiter;
  readonly params: RenewalParams;
  /** Told of an old certificate revoked by `revokeOld` (OCSP cache, CRL rebuild, metrics); must not throw. */
  readonly onRevoked?: (account: string, reason: RevocationReason, issuerKeyId: string) => void;
}

export interface RenewalRequest {
  /** DER of the client certificate the caller presented (TLS, or the trusted proxy's header); null: none. */
  readonly presented: Buffer | null;
  /** Empty: same key. Otherwise a CSR (PEM or DER) for the new key, same subject. */
  readonly body: Uint8Array;
  /** `superseded`: revoke the presented certificate in the same transaction. */
  readonly revokeOld: 'superseded' | null;
  readonly origin: AuditOrigin;
}

const unauthorized = (detail: string) => new CaError('unauthorized', detail);

/**
 * Renewal with the certificate in hand (step-ca style): the certificate the caller holds, and proves
 * with its key in the TLS handshake, is the credential. The new certificate has the same subject, a new
 * serial and a validity from now, through the same issuance path and ledger as signing.
 */
export class RenewalService {
  private readonly rule: RateRule;

  constructor(private readonly deps: RenewalServiceDeps) {
    this.rule = { scope: 'renew-serial', limit: 1, windowMs: deps.params.minIntervalMs };
  }

  async renew(request: RenewalRequest): Promise<IssuedCertificate> {
    const old = await this.authenticate(request.presented);
    const { clock, params, audit } = this.deps;
    const now = clock.now();
    if (old.revocation) throw new CaError('forbidden', `certificate ${old.serialNumber} is revoked (${old.revocation.reason}); request a new one with an API key`);
    if (now.getTime() < old.notBefore.getTime()) throw new CaError('forbidden', `certificate ${old.serialNumber} is not valid yet`);
    if (now.getTime() > old.notAfter.getTime() + params.afterExpiryMs) {
      throw new CaError('forbidden', `certificate ${old.serialNumber} expired at ${old.notAfter.toISOString()}; request a new one with an API key`);
    }
    if (isReservedAccount(old.account)) throw new CaError('forbidden', "the service's own certificates are not renewed through the API");
    const issuance = request.body.length === 0 ? sameKey(old) : await this.rekey(old, request.body);
    // Counted only once the request is one that would be issued (a refused CSR does not use up the interval).
    if (params.minIntervalMs > 0) {
      const decision = await this.deps.limiter.take(this.rule, old.serialNumber);
      if (!decision.allowed) {
        throw new CaError('too-many-requests', `certificate ${old.serialNumber} was renewed less than ${params.minIntervalMs / 1000} s ago`, {
          retryAfterSeconds: decision.retryAfterSeconds,
        });
      }
    }
    // A certificate is renewed once (a stolen old certificate cannot go on minting new ones). The same-key
    // request again gets the same successor (the first answer may have been lost on the way); anything
    // else is refused, naming the successor.
    const successor = await this.deps.ledger.findRenewalOf(old.serialNumber);
    if (successor) {
      if (request.body.length === 0 && !request.revokeOld && !successor.revocation && successor.publicKeySha256 === issuance.publicKeySha256) {
        return successor;
      }
      throw new CaError('conflict', `certificate ${old.serialNumber} was already renewed (into ${successor.serialNumber}); renew that one, or request a new certificate with an API key`);
    }
    const actor = `certificate:${old.serialNumber}`;
    const revocation: Revocation | null = request.revokeOld ? { revokedAt: now, reason: request.revokeOld, revokedBy: actor } : null;
    const issued = await this.deps.signing.issue(
      issuance,
      actor,
      (cert) =>
        audit.record(
          {
            ...request.origin,
            action: 'certificate.renew',
            outcome: 'success',
            actor,
            account: cert.account,
            serialNumber: cert.serialNumber,
            details: {
              commonName: cert.commonName,
              renewedFrom: old.serialNumber,
              rekeyed: String(request.body.length > 0),
              ...(revocation ? { revokedOld: revocation.reason } : {}),
            },
          },
          (entry) => this.deps.ledger.insertRenewal(cert, entry, revocation),
        ),
      old.serialNumber,
    );
    if (revocation) this.deps.onRevoked?.(old.account, revocation.reason, old.issuerKeyId);
    return issued;
  }

  /** The ledger row of the presented certificate: issued by this CA, and byte for byte the one recorded. */
  private async authenticate(presented: Buffer | null): Promise<IssuedCertificate> {
    if (!presented) throw unauthorized('present the client certificate to renew (TLS client authentication)');
    let cert: NodeX509;
    try {
      cert = new NodeX509(presented);
    } catch {
      throw unauthorized('the client certificate could not be parsed');
    }
    if (!(await this.deps.issuedHere(cert.raw))) throw unauthorized('the client certificate was not issued by one of this CA\'s issuers');
    let serial: string;
    try {
      serial = normalizeSerialNumber(cert.serialNumber);
    } catch {
      throw unauthorized('the client certificate is not in this CA\'s ledger');
    }
    const row = await this.deps.ledger.findBySerial(serial);
    if (!row || !decodeSinglePem(row.pem).der.equals(cert.raw)) throw unauthorized('the client certificate is not in this CA\'s ledger');
    return row;
  }

  /** A CSR for a new key: the same CSR policy as signing (proof of possession included), and the same subject. */
  private async rekey(old: IssuedCertificate, body: Uint8Array): Promise<IssuanceFor> {
    const request = await checkCertificateRequest(csrDerFromBody(body));
    if (request.subject !== old.subject) {
      throw new CaError('subject-not-allowed', `a rekey keeps the subject: the CSR names "${request.subject}", the certificate "${old.subject}"`);
    }
    return request;
  }
}

type IssuanceFor = IssuanceRequest & Pick<IssuedCertificate, 'account' | 'commonName' | 'subject' | 'publicKeySha256'>;

/** The same subject and key as the certificate held. */
function sameKey(old: IssuedCertificate): IssuanceFor {
  const cert = new NodeX509(old.pem);
  const spkiDer = cert.publicKey.export({ type: 'spki', format: 'der' });
  const type = cert.publicKey.asymmetricKeyType;
  if (type !== 'ec' && type !== 'rsa') throw new CaError('key-not-allowed', `the certificate's ${type ?? 'unknown'} key cannot be renewed`);
  return {
    subjectDer: subjectDerOf(cert.raw),
    spkiDer,
    keyType: type === 'ec' ? 'EC' : 'RSA',
    account: old.account,
    commonName: old.commonName,
    subject: old.subject,
    publicKeySha256: createHash('sha256').update(spkiDer).digest('hex'),
  };
}

/** The subject Name DER of a certificate. */
function subjectDerOf(der: Buffer): Buffer {
  return Buffer.from(new PeculiarX509(new Uint8Array(der)).subjectName.toArrayBuffer());
}
