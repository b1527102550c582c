import { createPublicKey, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { SubjectKeyIdentifierExtension, type X509Certificate } from '@peculiar/x509';
import { CaLoadError } from '../ca/ca-errors';
import { generateCaRequest, generateRootCa, type RootCaParams } from '../ca/ca-generator';
import { spkiSha256, type CaKeyBackend } from '../ca/ca-identity';
import { caFromKeyObject, chainPemOf, readChainPem } from '../ca/ca-keystore';
import type { CertificateAuthority } from '../ca/certificate-authority';
import { Issuer } from '../ca/issuer';
import { IssuerKeys } from '../ca/issuer-keys';
import { IssuerSet, type IssuerRecord, type LoadedIssuer } from '../ca/issuer-set';
import type { SecretVault } from '../ca/secret-vault';
import type { Clock } from '../domain/clock';
import { CaError } from '../domain/errors';
import { subjectKeyIdentifier, type IssuanceProfile } from '../domain/issuance-profile';
import { parseOcspRequest } from '../domain/ocsp';
import { CaIdentityRepository } from '../store/ca-identity-repository';
import { IssuerRepository } from '../store/issuer-repository';
import type { SqlDatabase } from '../store/sql';
import type { SigningIssuer } from './signing-service';
import type { CrlPublisher } from './crl-publisher';
import type { OcspResponder } from './ocsp-responder';
import { viewOf, type IssuerView } from './issuer-view';

export type { IssuerView } from './issuer-view';

/** What runs for an issuer that has signed or signs: its CRL and its OCSP responder. */
export interface IssuerServices {
  readonly crl: CrlPublisher;
  readonly ocsp: OcspResponder;
}

export interface IssuerRegistryDeps {
  readonly db: SqlDatabase;
  /** The CA identity custody resolved at start: the original issuer. */
  readonly original: { readonly ca: CertificateAuthority; readonly backend: CaKeyBackend };
  readonly vault: SecretVault | null;
  readonly dataDir: string;
  readonly passphrase?: string;
  readonly root: RootCaParams;
  readonly profile: IssuanceProfile;
  readonly clock: Clock;
  readonly crypto: Crypto;
  readonly logger: Logger;
  /** Starts an issuer's CRL publisher and OCSP responder (once per issuer and process); absent in the CLI. */
  readonly startServices?: (ca: CertificateAuthority, issuerId: string) => Promise<IssuerServices>;
  /** How often replicas look for a rotation made elsewhere. */
  readonly pollMs?: number;
}

interface Live extends LoadedIssuer {
  readonly signing: Issuer | null;
  services: IssuerServices | null;
}

/**
 * The CA's issuers as this replica runs them: loads them from the ledger (the original one made from the
 * pinned CA identity at first start), follows changes made by any replica (polling a version row), and
 * makes the changes: a new pending issuer (self-signed, or a CSR for an offline root), its certificate,
 * its activation. Each issuer that signs or signed has its own CRL publisher and OCSP responder.
 */
export class IssuerRegistry {
  private live = new Map<string, Live>();
  private snapshot = new IssuerSet([]);
  private version = -1n;
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private readonly keys: IssuerKeys;

  constructor(private readonly deps: IssuerRegistryDeps) {
    this.keys = new IssuerKeys({ db: deps.db, vault: deps.vault, dataDir: deps.dataDir, passphrase: deps.passphrase, originalBackend: deps.original.backend });
  }

  /** The lookup other features use (issuerOf, active, all). */
  get issuers(): IssuerSet {
    return this.snapshot;
  }

  /** Records the original issuer on a ledger without one, loads every issuer, refuses an expired active one, then follows. */
  async start(): Promise<void> {
    await this.recordOriginal();
    await this.refresh();
    const active = this.snapshot.active();
    if (!active?.ca) throw new CaLoadError(`the active issuer ${active ? `"${active.record.id}"` : ''} cannot be loaded on this replica. Refusing to start.`);
    if (active.ca.notAfter.getTime() <= this.deps.clock.now().getTime()) {
      throw new CaLoadError(
        `the active issuer "${active.record.id}" (${active.ca.certificate.subject}) expired on ${active.ca.notAfter.toISOString()}: ` +
          'rotate the CA (`mtls-ca ca rotate` then `mtls-ca ca activate ID`) before starting. Refusing to start.',
      );
    }
    this.timer = setInterval(() => void this.refresh().catch((err) => this.deps.logger.warn({ err }, 'could not read the issuers')), this.deps.pollMs ?? 250);
    this.timer.unref();
  }

  /** Records the issuer of the pinned CA identity on a ledger from before issuers (or updates its renewed certificate). */
  async recordOriginal(): Promise<void> {
    const { ca, backend } = this.deps.original;
    await this.deps.db.transaction(async (tx) => {
      await new CaIdentityRepository(tx).lock();
      const repo = new IssuerRepository(tx);
      const original = (await repo.all()).find((r) => r.original);
      if (!original) {
        await repo.insert({
          id: newIssuerId(),
          keyId: ca.keyId,
          spkiSha256: spkiSha256(new Uint8Array(ca.signer.spkiDer)),
          state: 'active',
          backend,
          chainPem: ca.chainPem,
          csrPem: null,
          original: true,
        });
      } else if (original.chainPem !== ca.chainPem || original.backend !== backend) {
        await repo.setOriginalChain(ca.chainPem, backend);
      }
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const l of this.live.values()) l.services?.crl.stop();
  }

  /** The issuer that signs now. */
  active(): SigningIssuer {
    const active = this.snapshot.active() as Live | null;
    if (!active?.ca || !active.signing) throw new CaError('not-ready', 'no active issuer is loaded on this replica', { retryAfterSeconds: 1 });
    return { ca: active.ca, issuer: active.signing };
  }

  servicesOf(id: string): IssuerServices | null {
    return this.live.get(id)?.services ?? null;
  }

  /** Every issuer's running services. */
  allServices(): IssuerServices[] {
    return [...this.live.values()].flatMap((l) => (l.services ? [l.services] : []));
  }

  /** A revocation committed here: every OCSP cache drops its answers, the issuer's CRL is rebuilt. */
  revocationCommitted(issuerKeyId?: string): void {
    for (const l of this.live.values()) {
      if (!l.services) continue;
      l.services.ocsp.revocationCommitted();
      if (!issuerKeyId || l.record.keyId === issuerKeyId) void l.services.crl.rebuild().catch(() => undefined);
    }
  }

  /** OCSP: the responder of the issuer named by the request's issuerNameHash/issuerKeyHash (the original answers `unauthorized` otherwise). */
  async respondOcsp(der: Buffer, log?: Logger): Promise<Buffer> {
    let target: IssuerServices | null = null;
    try {
      const first = parseOcspRequest(der).certIds[0];
      if (first) target = this.allServices().find((s) => s.ocsp.serves(first)) ?? null;
    } catch {
      // Unreadable: any responder answers malformedRequest.
    }
    target ??= this.servicesOf(this.snapshot.original()?.record.id ?? '') ?? this.allServices()[0];
    return target.ocsp.respond(der, log);
  }

  /** Re-reads the issuers when their version moved; loads new ones, starts services of those that sign or signed. */
  async refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = this.doRefresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const repo = new IssuerRepository(this.deps.db);
    const version = await repo.version();
    if (version === this.version) return;
    const records = await repo.all();
    const next = new Map<string, Live>();
    for (const record of records) {
      const known = this.live.get(record.id);
      const loaded = known && known.record.chainPem === record.chainPem && known.ca ? { ...known, record } : await this.load(record);
      if (known?.services && loaded !== known) loaded.services ??= known.services;
      if (!loaded.services && loaded.ca && record.state !== 'pending' && this.deps.startServices) loaded.services = await this.deps.startServices(loaded.ca, record.id);
      next.set(record.id, loaded);
    }
    this.live = next;
    this.snapshot = new IssuerSet([...next.values()]);
    this.version = version;
  }

  private async load(record: IssuerRecord): Promise<Live> {
    const none: Live = { record, certificate: null, ca: null, signing: null, services: null };
    if (!record.chainPem) return none;
    const { certificate, chain } = readChainPem(record.chainPem, `the certificate of issuer ${record.id}`);
    let ca: CertificateAuthority | null = null;
    try {
      if (record.original) ca = this.deps.original.ca;
      else {
        ca = await caFromKeyObject(certificate, chain, await this.keys.load(record), this.deps.crypto);
      }
    } catch (err) {
      this.deps.logger.error({ err, issuer: record.id }, 'cannot load the key of an issuer on this replica');
    }
    const profile = this.deps.profile.forIssuer(record.original ? undefined : record.id);
    return { record, certificate, ca, signing: ca ? new Issuer(ca, profile) : null, services: null };
  }

  /** The issuers as the API shows them. */
  list(): IssuerView[] {
    return this.snapshot.all().map(viewOf);
  }

  view(id: string): IssuerView {
    const found = this.snapshot.byId(id);
    if (!found) throw new CaError('not-found', `no issuer "${id}"`);
    return viewOf(found);
  }

  /**
   * A new pending issuer: a self-signed root with the configured key type and subject, or (csr) a key
   * and a CSR for an offline root to sign. Its key goes where every replica can use it: wrapped in the
   * ledger (MTLS_CA_MASTER_KEY), or the data directory on the embedded database (one replica).
   */
  async rotate(options: { csr: boolean }): Promise<IssuerView & { csr?: string }> {
    const backend = this.keys.backendForNew();
    const id = newIssuerId();
    const made = options.csr
      ? { ...(await generateCaRequest(this.deps.root, this.deps.crypto)), certificate: null as X509Certificate | null }
      : { ...(await generateRootCa(this.deps.root, this.deps.crypto, this.deps.clock, { next: () => randomBytes(16).fill(0x7f, 0, 1) })), csrPem: null as string | null };
    const spki = createPublicKey(made.keyObject).export({ format: 'der', type: 'spki' });
    await this.deps.db.transaction(async (tx) => {
      await new CaIdentityRepository(tx).lock();
      await this.keys.store(tx, id, made.keyObject, backend);
      await new IssuerRepository(tx).insert({
        id,
        keyId: made.certificate ? keyIdOf(made.certificate) : subjectKeyIdentifier(spki),
        spkiSha256: spkiSha256(new Uint8Array(spki)),
        state: 'pending',
        backend,
        chainPem: made.certificate ? chainPemOf(made.certificate, []) : null,
        csrPem: made.csrPem,
        original: false,
      });
    });
    await this.refresh();
    const view = this.view(id);
    return made.csrPem ? { ...view, csr: made.csrPem } : view;
  }

  /** The certificate an offline root signed for a pending issuer's CSR: it must be a CA certificate for that key. */
  async setCertificate(id: string, pem: string): Promise<IssuerView> {
    await this.deps.db.transaction(async (tx) => {
      await new CaIdentityRepository(tx).lock();
      const repo = new IssuerRepository(tx);
      const record = await repo.get(id);
      if (!record) throw new CaError('not-found', `no issuer "${id}"`);
      if (record.state !== 'pending' || record.chainPem) throw new CaError('conflict', `issuer "${id}" already has its certificate`);
      let parsed: { certificate: X509Certificate; chain: X509Certificate[] };
      try {
        parsed = readChainPem(pem, 'the certificate');
      } catch (cause) {
        throw new CaError('invalid-request', 'the body is not a PEM certificate (followed by its chain, if any)', { cause });
      }
      const spki = new Uint8Array(parsed.certificate.publicKey.rawData);
      if (spkiSha256(spki) !== record.spkiSha256) throw new CaError('invalid-request', `the certificate is not for the key of issuer "${id}" (its CSR's key)`);
      try {
        await caFromKeyObject(parsed.certificate, parsed.chain, await this.keys.load(record), this.deps.crypto);
      } catch (cause) {
        if (cause instanceof CaLoadError) throw new CaError('invalid-request', cause.message, { cause });
        throw cause;
      }
      if (parsed.certificate.notAfter.getTime() <= this.deps.clock.now().getTime()) throw new CaError('invalid-request', 'the certificate has expired');
      await repo.setChain(id, chainPemOf(parsed.certificate, parsed.chain), keyIdOf(parsed.certificate));
    });
    await this.refresh();
    return this.view(id);
  }

  /** Makes a pending issuer the one that signs; the previous active one retires (it keeps its CRL and OCSP). */
  async activate(id: string): Promise<IssuerView> {
    await this.refresh();
    const loaded = this.snapshot.byId(id);
    if (loaded && !loaded.ca && loaded.record.chainPem) throw new CaError('conflict', `the key of issuer "${id}" cannot be loaded on this replica`);
    await this.deps.db.transaction(async (tx) => {
      await new CaIdentityRepository(tx).lock();
      const repo = new IssuerRepository(tx);
      const record = await repo.get(id);
      if (!record) throw new CaError('not-found', `no issuer "${id}"`);
      if (record.state === 'active') throw new CaError('conflict', `issuer "${id}" is already active`);
      if (record.state === 'retired') throw new CaError('conflict', `issuer "${id}" is retired; a retired issuer is never activated again`);
      if (!record.chainPem) throw new CaError('conflict', `issuer "${id}" waits for its certificate (PUT /ca/issuers/${id}/certificate)`);
      const { certificate } = readChainPem(record.chainPem, 'issuer');
      const now = this.deps.clock.now().getTime();
      if (certificate.notBefore.getTime() > now || certificate.notAfter.getTime() <= now) {
        throw new CaError('conflict', `the certificate of issuer "${id}" is not valid now (${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()})`);
      }
      await repo.activate(id);
    });
    await this.refresh();
    return this.view(id);
  }

}

function newIssuerId(): string {
  return randomBytes(6).toString('hex');
}

function keyIdOf(certificate: X509Certificate): string {
  const ski = certificate.getExtension(SubjectKeyIdentifierExtension);
  return ski ? ski.keyId : subjectKeyIdentifier(Buffer.from(certificate.publicKey.rawData));
}

