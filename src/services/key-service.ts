import type { AuditOrigin, AuditSink } from '../domain/audit-event';
import { newAppKey, newAppToken, type ApiKey, type ApiKeySummary, type TokenHasher } from '../domain/api-key';
import type { Clock } from '../domain/clock';
import { CaError } from '../domain/errors';
import { NAME_PATTERN } from '../domain/csr-policy';
import type { AuthGuard } from './auth-guard';
import { expandPermissions, isReservedAccount, PERMISSION_OR_ROLE, type Permission, type Principal } from '../domain/permissions';

/** The narrow part of the ledger that key management needs. */
export interface ApiKeyStore {
  create(key: ApiKey): Promise<void>;
  createIfNoneExist(key: ApiKey): Promise<boolean>;
  find(appKey: string): Promise<ApiKey | null>;
  list(account?: string): Promise<ApiKey[]>;
  disable(appKey: string, at: Date): Promise<ApiKey | null>;
}

export interface CreatedKey extends ApiKeySummary {
  /** Shown once, at creation; only its HMAC is stored. */
  readonly appToken: string;
}

export const BOOTSTRAP_ACCOUNT = 'platform';

export function summary(key: ApiKey): ApiKeySummary {
  const { tokenHash: _hidden, ...rest } = key;
  return rest;
}

export class KeyService {
  /** Recently read keys (also unknown ones, as null), so a busy client does not cost a query per request. */
  private readonly cache = new Map<string, { key: ApiKey | null; until: number }>();

  constructor(
    private readonly store: ApiKeyStore,
    private readonly hasher: TokenHasher,
    private readonly clock: Clock,
    private readonly audit: AuditSink,
    /** How long a key read from the ledger is trusted; a key disabled on another replica stops working after at most this. */
    private readonly cacheMs = 1000,
    /** Wrong-token throttle and per-key rate limit; absent: none. */
    private readonly guard?: AuthGuard,
  ) {}

  private async lookup(appKey: string): Promise<ApiKey | null> {
    const now = Date.now();
    const hit = this.cache.get(appKey);
    if (hit && hit.until > now) return hit.key;
    const key = await this.store.find(appKey);
    if (this.cacheMs > 0) {
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(appKey, { key, until: now + this.cacheMs });
    }
    return key;
  }

  /** The account of an existing key (disabled or not), null for an unknown one; read through the authentication cache. */
  async accountOf(appKey: string): Promise<string | null> {
    return (await this.lookup(appKey))?.account ?? null;
  }

  /**
   * Authenticates a key pair. Unknown key and wrong token fail identically (and take the same work):
   * the same lookup (cached either way), one HMAC, the same throttle accounting, the same error.
   */
  async authenticate(appKey: string, appToken: string, clientIp?: string): Promise<Principal> {
    const attempt = await this.guard?.beforeAuthenticate(appKey, clientIp);
    const key = await this.lookup(appKey);
    const ok = this.hasher.verify(appToken, key?.tokenHash ?? null);
    if (!key || !ok || key.disabledAt) {
      if (attempt) await this.guard?.failed(attempt);
      throw new CaError('unauthorized', 'missing, unknown or wrong API credentials');
    }
    if (attempt) await this.guard?.admitted(attempt);
    return { appKey: key.appKey, account: key.account, permissions: new Set<Permission>(key.permissions) };
  }

  async create(
    params: { account: string; permissions: readonly string[]; appKey?: string; appToken?: string },
    createdBy: string | null,
    origin: AuditOrigin,
  ): Promise<CreatedKey> {
    if (!NAME_PATTERN.test(params.account)) {
      throw new CaError('invalid-request', 'account must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    if (isReservedAccount(params.account)) {
      throw new CaError('invalid-request', `the account "${params.account}" is reserved for the service's own certificates`);
    }
    const unknown = params.permissions.filter((p) => !PERMISSION_OR_ROLE.includes(p));
    if (unknown.length > 0) throw new CaError('invalid-request', `unknown permissions: ${unknown.join(', ').slice(0, 200)}`);
    const permissions = expandPermissions(params.permissions);
    if (permissions.length === 0) throw new CaError('invalid-request', 'a key needs at least one permission');
    const appToken = params.appToken ?? newAppToken();
    const key: ApiKey = {
      appKey: params.appKey ?? newAppKey(),
      account: params.account,
      permissions,
      tokenHash: this.hasher.hash(appToken),
      createdAt: this.clock.now(),
      createdBy,
      disabledAt: null,
    };
    await this.store.create(key);
    this.cache.delete(key.appKey);
    await this.audit.record({
      ...origin,
      action: 'key.create',
      outcome: 'success',
      actor: createdBy,
      account: key.account,
      details: { appKey: key.appKey, permissions: key.permissions.join(',') },
    });
    return { ...summary(key), appToken };
  }

  /** First start only: one admin key, from the given pair or random. Null when any key already exists. */
  async bootstrap(pair?: { appKey: string; appToken: string }): Promise<CreatedKey | null> {
    const appToken = pair?.appToken ?? newAppToken();
    const key: ApiKey = {
      appKey: pair?.appKey ?? newAppKey(),
      account: BOOTSTRAP_ACCOUNT,
      permissions: expandPermissions(['role:admin']),
      tokenHash: this.hasher.hash(appToken),
      createdAt: this.clock.now(),
      createdBy: null,
      disabledAt: null,
    };
    if (!(await this.store.createIfNoneExist(key))) return null;
    await this.audit.record({
      action: 'key.create',
      outcome: 'success',
      account: key.account,
      details: { appKey: key.appKey, permissions: key.permissions.join(','), bootstrap: 'true' },
    });
    return { ...summary(key), appToken };
  }

  async list(account?: string): Promise<ApiKeySummary[]> {
    return (await this.store.list(account)).map(summary);
  }

  /** Disables a key (idempotent). `by` is the admin key acting, absent for the CLI. */
  async disable(appKey: string, by: Principal | undefined, origin: AuditOrigin): Promise<ApiKeySummary> {
    if (by && by.appKey === appKey) throw new CaError('conflict', 'a key cannot disable itself; use another admin key');
    const at = this.clock.now();
    const key = await this.store.disable(appKey, at);
    this.cache.delete(appKey);
    if (!key) throw new CaError('not-found', `no API key ${appKey}`);
    const already = key.disabledAt !== null && key.disabledAt.getTime() !== at.getTime();
    await this.audit.record({
      ...origin,
      action: 'key.disable',
      outcome: 'success',
      actor: by?.appKey ?? null,
      account: key.account,
      details: { appKey: key.appKey, ...(already ? { alreadyDisabled: 'true' } : {}) },
    });
    return summary(key);
  }
}
