import { createHash } from 'node:crypto';
import type { AuditOrigin, AuditSink } from '../domain/audit-event';
import type { Clock } from '../domain/clock';
import { CaError } from '../domain/errors';
import { readClientCertificate, readTrustAnchor } from '../domain/partner-certificate';
import type { PartnerTrustEntry, PartnerTrustKind, PartnerTrustRepository } from '../store/partner-trust-repository';

/** At most this many active registered certificates per account and subject: one in use, one rotating in. */
export const MAX_CLIENT_CERTIFICATES_PER_SUBJECT = 2;

/** What the gateway fetches: every anchor and registered certificate with its account, and a version of the whole. */
export interface TrustMaterial {
  readonly version: string;
  readonly anchors: readonly Pick<PartnerTrustEntry, 'id' | 'account' | 'certificate' | 'sha256'>[];
  readonly clientCertificates: readonly Pick<PartnerTrustEntry, 'id' | 'account' | 'certificate' | 'sha256' | 'notBefore' | 'notAfter'>[];
}

const ACTIONS = {
  anchor: { add: 'trust-anchor.add', remove: 'trust-anchor.remove' },
  client: { add: 'client-certificate.register', remove: 'client-certificate.remove' },
} as const;

/** Partners' own CAs and directly registered client certificates (issue 12). */
export class PartnerTrustService {
  constructor(
    private readonly repository: PartnerTrustRepository,
    private readonly clock: Clock,
    private readonly audit: AuditSink,
  ) {}

  async addAnchor(account: string, certificate: unknown, actor: string, origin: AuditOrigin): Promise<PartnerTrustEntry> {
    const cert = readTrustAnchor(certificate, this.clock.now());
    const entry = await this.repository.addAnchor(account, cert, actor);
    await this.record('anchor', 'add', entry, actor, origin);
    return entry;
  }

  async registerClient(account: string, certificate: unknown, actor: string, origin: AuditOrigin): Promise<PartnerTrustEntry> {
    const now = this.clock.now();
    const cert = readClientCertificate(certificate, now);
    const entry = await this.repository.addClient(account, cert, actor, now, MAX_CLIENT_CERTIFICATES_PER_SUBJECT);
    await this.record('client', 'add', entry, actor, origin);
    return entry;
  }

  list(kind: PartnerTrustKind, account?: string): Promise<PartnerTrustEntry[]> {
    return this.repository.list(kind, account);
  }

  async remove(kind: PartnerTrustKind, id: string, actor: string, origin: AuditOrigin): Promise<PartnerTrustEntry> {
    const entry = await this.repository.remove(kind, id);
    if (!entry) throw new CaError('not-found', `no ${kind === 'anchor' ? 'trust anchor' : 'registered client certificate'} ${id}`);
    await this.record(kind, 'remove', entry, actor, origin);
    return entry;
  }

  async trustMaterial(): Promise<TrustMaterial> {
    const [anchors, clients] = await Promise.all([this.repository.list('anchor'), this.repository.list('client')]);
    const body = {
      anchors: anchors.map(({ id, account, certificate, sha256 }) => ({ id, account, certificate, sha256 })),
      clientCertificates: clients.map(({ id, account, certificate, sha256, notBefore, notAfter }) => ({ id, account, certificate, sha256, notBefore, notAfter })),
    };
    const version = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 32);
    return { version, ...body };
  }

  private async record(kind: PartnerTrustKind, op: 'add' | 'remove', entry: PartnerTrustEntry, actor: string, origin: AuditOrigin): Promise<void> {
    await this.audit.record({
      ...origin,
      action: ACTIONS[kind][op],
      outcome: 'success',
      actor,
      account: entry.account,
      details: { id: entry.id, sha256: entry.sha256, subject: entry.subject.slice(0, 200) },
    });
  }
}
