import { createHash, createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { prepareAuditEntry, type AuditEvent, type AuditOrigin, type AuditSink } from '../domain/audit-event';
import { checkIdentityChain } from '../ca/identity-certificate';
import { certificateRequestPem } from '../ca/identity-csr';
import { describeKey, generateHeldKey, pkcs8Der } from '../ca/key-pair';
import type { SecretVault } from '../ca/secret-vault';
import { encodeSubject, type SubjectAttributes } from '../ca/subject-name';
import { identityKeyPurpose, identityState, type ClientIdentity, type ClientTlsMaterial, type GeneratedKeyType, type IdentityKeyring } from '../domain/client-identity';
import type { Clock } from '../domain/clock';
import { NAME_PATTERN } from '../domain/csr-policy';
import { CaError } from '../domain/errors';
import { encodePem } from '../domain/pem';
import { hasPermission, isReservedAccount, mayActOnAccount, type Principal } from '../domain/permissions';
import { encodePkcs12 } from '../pkcs12';
import type { IdentityCertificate, IdentityRepository } from '../store/identity-repository';
import { certificatesOf, readImport, type ImportSource } from './identity-import';
import type { SigningService } from './signing-service';

export interface IdentityServiceDeps {
  readonly repository: IdentityRepository;
  /** Null without MTLS_CA_MASTER_KEY: then no private key can be kept (409, fail closed). */
  readonly vault: SecretVault | null;
  readonly signing: SigningService;
  readonly clock: Clock;
  readonly audit: AuditSink;
}

type IdentityAuditAction = 'identity.create' | 'identity.certificate' | 'identity.export' | 'identity.delete';

/** What the service reads of a certificate it keeps for an identity. */
export function certificateFacts(leaf: X509Certificate, chain: X509Certificate[]): IdentityCertificate {
  return {
    certificatePem: encodePem('CERTIFICATE', leaf.raw),
    chainPem: chain.map((c) => encodePem('CERTIFICATE', c.raw)),
    fingerprintSha256: createHash('sha256').update(leaf.raw).digest('hex'),
    serialNumber: leaf.serialNumber.toLowerCase(),
    subject: leaf.subject.split('\n').join(', '),
    issuer: leaf.issuer.split('\n').join(', '),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

/** Client identities of the outgoing side: keys generated or imported and kept wrapped, their certificates. */
export class IdentityService implements IdentityKeyring {
  constructor(private readonly deps: IdentityServiceDeps) {}

  private vault(): SecretVault {
    if (!this.deps.vault) {
      throw new CaError(
        'conflict',
        'this service keeps no private keys: start it with MTLS_CA_MASTER_KEY set so client identity keys can be kept wrapped in the ledger',
      );
    }
    return this.deps.vault;
  }

  private checkTarget(principal: Principal, account: string, name: string): void {
    if (!NAME_PATTERN.test(account)) throw new CaError('invalid-request', 'account: 1-64 letters, digits, ".", "_" or "-"');
    if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}$/.test(name)) throw new CaError('invalid-request', 'name: 1-128 letters, digits, spaces, ".", "_" or "-"');
    if (!mayActOnAccount(principal, account) || isReservedAccount(account)) {
      throw new CaError('account-mismatch', `this key may not act on account "${account}"`);
    }
  }

  /** Issued here: a new key, a client certificate from this CA (the signing path, policy and ledger), both kept. */
  async issue(
    principal: Principal,
    params: { name: string; account: string; commonName: string; keyType: GeneratedKeyType; exportable: boolean },
    origin: AuditOrigin,
  ): Promise<ClientIdentity> {
    this.checkTarget(principal, params.account, params.name);
    if (!NAME_PATTERN.test(params.commonName)) throw new CaError('subject-not-allowed', 'commonName: 1-64 letters, digits, ".", "_" or "-"');
    // Exported, it is a client certificate of this CA with its key in the caller's hands: what signing gives.
    if (params.exportable && !hasPermission(principal, 'certificates:sign')) {
      throw new CaError('forbidden', 'an exportable identity issued here needs a key with certificates:sign as well (its export is a client certificate of this CA with its key)');
    }
    const vault = this.vault();
    const key = await generateHeldKey(params.keyType);
    const subjectDer = encodeSubject({ CN: params.commonName, OU: params.account });
    const pending = await this.create(principal, { ...params, origin: 'issued', csrPem: null }, key, vault, origin);
    let certificate;
    try {
      certificate = await this.deps.signing.signRequest(
        principal,
        {
          subjectDer,
          subject: `CN=${params.commonName}, OU=${params.account}`,
          commonName: params.commonName,
          account: params.account,
          spkiDer: key.spkiDer,
          publicKeySha256: key.publicKeySha256,
          keyType: key.keyType,
        },
        origin,
      );
    } catch (e) {
      // Nothing issued: the identity and its key go (no half-made identity is left behind).
      await this.deps.repository.delete(pending.id, this.auditEntry(principal, pending, 'identity.delete', origin, { reason: 'issuance failed' }));
      throw e;
    }
    return this.attach(principal, pending, new X509Certificate(certificate.pem), [], origin);
  }

  /**
   * For a partner's CA: a new key, kept wrapped, and a CSR for it (in the answer's `csr`). The identity
   * waits for its certificate (setCertificate) and is never presented before.
   */
  async requestCertificate(
    principal: Principal,
    params: { name: string; account: string; exportable: boolean; subject: SubjectAttributes; keyType: GeneratedKeyType },
    origin: AuditOrigin,
  ): Promise<ClientIdentity> {
    this.checkTarget(principal, params.account, params.name);
    const vault = this.vault();
    const key = await generateHeldKey(params.keyType);
    const csrPem = await certificateRequestPem(key, encodeSubject(params.subject));
    return this.create(principal, { ...params, origin: 'partner-ca', csrPem }, key, vault, origin);
  }

  /**
   * The certificate a partner's CA signed for the identity's key, with the chain above it (leaf's issuer
   * first; `certificate` may hold the whole chain, leaf first). Checked against the kept key (and for
   * validity, clientAuth, a linking chain); sent again (a renewal), it replaces the previous one and the
   * revision moves on, so connection pools pick it up.
   */
  async setCertificate(principal: Principal, id: string, input: { certificate: string; chain?: string | readonly string[] }, origin: AuditOrigin): Promise<ClientIdentity> {
    const identity = await this.get(principal, id);
    if (identity.origin === 'issued') {
      throw new CaError('conflict', 'this identity is certified by this CA; create another one for a certificate from elsewhere');
    }
    const [leafPem, chainPems] = certificatesOf(input.certificate, input.chain);
    const { leaf, chain } = checkIdentityChain(leafPem, chainPems, identity.publicKeySha256, this.deps.clock.now());
    return this.attach(principal, identity, leaf, chain, origin);
  }

  /** Imported: a key and its certificate made elsewhere (PEM or PKCS#12), checked to belong together, kept like the others. */
  async importIdentity(
    principal: Principal,
    params: { name: string; account: string; exportable: boolean },
    source: ImportSource,
    origin: AuditOrigin,
  ): Promise<ClientIdentity> {
    this.checkTarget(principal, params.account, params.name);
    const vault = this.vault();
    const material = await readImport(source);
    const { leaf, chain } = checkIdentityChain(material.certificatePem, material.chainPems, material.key.publicKeySha256, this.deps.clock.now());
    return this.create(principal, { ...params, origin: 'imported', csrPem: null }, material.key, vault, origin, certificateFacts(leaf, chain));
  }

  private async create(
    principal: Principal,
    params: { name: string; account: string; exportable: boolean; origin: ClientIdentity['origin']; csrPem: string | null },
    key: ReturnType<typeof describeKey>,
    vault: SecretVault,
    origin: AuditOrigin,
    cert?: IdentityCertificate,
  ): Promise<ClientIdentity> {
    const now = this.deps.clock.now();
    const identity: ClientIdentity = {
      id: randomUUID(),
      account: params.account,
      name: params.name,
      origin: params.origin,
      keyType: key.description,
      publicKeySha256: key.publicKeySha256,
      exportable: params.exportable,
      csrPem: params.csrPem,
      certificatePem: cert?.certificatePem ?? null,
      chainPem: cert?.chainPem ?? [],
      fingerprintSha256: cert?.fingerprintSha256 ?? null,
      serialNumber: cert?.serialNumber ?? null,
      subject: cert?.subject ?? null,
      issuer: cert?.issuer ?? null,
      notBefore: cert?.notBefore ?? null,
      notAfter: cert?.notAfter ?? null,
      revision: 1,
      createdBy: principal.appKey,
      createdAt: now,
      updatedAt: now,
    };
    const entry = this.auditEntry(principal, identity, 'identity.create', origin, {
      origin: params.origin,
      exportable: String(params.exportable),
      // An imported identity brings its certificate: the record names which one.
      ...(cert?.fingerprintSha256 ? { fingerprintSha256: cert.fingerprintSha256 } : {}),
    });
    const stored = await this.deps.repository.insert(identity, identityKeyPurpose(identity.id), pkcs8Der(key), vault, entry);
    if (!stored) throw new CaError('conflict', `account "${params.account}" already has an identity named "${params.name}"`);
    return identity;
  }

  private async attach(principal: Principal, identity: ClientIdentity, leaf: X509Certificate, chain: X509Certificate[], origin: AuditOrigin): Promise<ClientIdentity> {
    const facts = certificateFacts(leaf, chain);
    const updated = await this.deps.repository.setCertificate(
      identity.id,
      facts,
      this.deps.clock.now(),
      this.auditEntry(principal, identity, 'identity.certificate', origin, {
        fingerprintSha256: facts.fingerprintSha256!,
        ...(identity.fingerprintSha256 ? { replacedFingerprintSha256: identity.fingerprintSha256 } : {}),
      }),
    );
    if (!updated) throw new CaError('not-found', 'the identity was deleted meanwhile');
    return updated;
  }

  private auditEvent(principal: Principal, identity: ClientIdentity, action: IdentityAuditAction, origin: AuditOrigin, details: Record<string, string> = {}): AuditEvent {
    return {
      ...origin,
      action,
      outcome: 'success',
      actor: principal.appKey,
      account: identity.account,
      details: { identityId: identity.id, name: identity.name, ...details },
    };
  }

  private auditEntry(principal: Principal, identity: ClientIdentity, action: IdentityAuditAction, origin: AuditOrigin, details: Record<string, string> = {}) {
    return prepareAuditEntry(this.auditEvent(principal, identity, action, origin, details), this.deps.clock.now());
  }

  /** An identity the principal may see; 404 for an unknown one and for one of another account. */
  async get(principal: Principal, id: string): Promise<ClientIdentity> {
    const identity = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id) ? await this.deps.repository.find(id.toLowerCase()) : null;
    if (!identity || !mayActOnAccount(principal, identity.account)) throw new CaError('not-found', `no client identity ${id.slice(0, 64)}`);
    return identity;
  }

  async list(principal: Principal, account: string | undefined, limit: number): Promise<ClientIdentity[]> {
    if (account !== undefined && !mayActOnAccount(principal, account)) throw new CaError('account-mismatch', `this key may not read account "${account}"`);
    return this.deps.repository.list(account ?? (principal.permissions.has('admin') ? undefined : principal.account), limit);
  }

  /** Deletes an identity and destroys its wrapped key in the same transaction. */
  async delete(principal: Principal, id: string, origin: AuditOrigin): Promise<void> {
    const identity = await this.get(principal, id);
    if (!(await this.deps.repository.delete(identity.id, this.auditEntry(principal, identity, 'identity.delete', origin)))) {
      throw new CaError('not-found', `no client identity ${id}`);
    }
  }

  state(identity: ClientIdentity) {
    return identityState(identity, this.deps.clock.now());
  }

  /** The key of an identity, unwrapped in memory. */
  private async privateKeyPem(identity: ClientIdentity): Promise<string> {
    const der = await this.vault().unwrap(identityKeyPurpose(identity.id));
    if (!der) throw new CaError('conflict', 'the key of this identity is gone');
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  /**
   * The identity as a PKCS#12 file under `password`, only for one created with `exportable: true`; the
   * export is audited before the file is handed out.
   */
  async exportPkcs12(principal: Principal, id: string, password: string, profile: 'modern' | 'legacy', origin: AuditOrigin): Promise<{ identity: ClientIdentity; der: Buffer }> {
    const identity = await this.get(principal, id);
    if (!identity.exportable) throw new CaError('forbidden', 'this identity was created without "exportable": true; its key never leaves the service');
    if (identity.certificatePem === null) throw new CaError('conflict', 'this identity has no certificate yet (its CSR waits for the partner\'s CA)');
    const der = await encodePkcs12({
      keyPem: await this.privateKeyPem(identity),
      certificatePem: identity.certificatePem,
      chainPem: identity.chainPem.join(''),
      password,
      profile,
      friendlyName: identity.name,
    });
    await this.deps.audit.record(this.auditEvent(principal, identity, 'identity.export', origin, { profile, fingerprintSha256: identity.fingerprintSha256 ?? '' }));
    return { identity, der };
  }

  async tlsMaterial(account: string, identityId: string): Promise<ClientTlsMaterial> {
    const identity = /^[0-9a-f-]{36}$/i.test(identityId) ? await this.deps.repository.find(identityId.toLowerCase()) : null;
    if (!identity || identity.account !== account) throw new CaError('not-found', `no client identity ${identityId.slice(0, 64)} in account ${account.slice(0, 64)}`);
    if (identity.certificatePem === null) throw new CaError('conflict', `client identity ${identity.id} has no certificate yet (its CSR waits for the partner's CA)`);
    const state = this.state(identity);
    if (state === 'expired') throw new CaError('conflict', `the certificate of client identity ${identity.id} expired at ${identity.notAfter!.toISOString()}; give it a new one`);
    if (state === 'not-yet-valid') throw new CaError('conflict', `the certificate of client identity ${identity.id} is not valid before ${identity.notBefore!.toISOString()}`);
    return {
      identityId: identity.id,
      account: identity.account,
      keyPem: await this.privateKeyPem(identity),
      certificatePem: identity.certificatePem,
      chainPem: identity.chainPem,
      version: `${identity.id}:${identity.revision}:${identity.fingerprintSha256}`,
    };
  }
}
