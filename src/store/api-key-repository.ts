import type { ApiKey } from '../domain/api-key';
import { PERMISSIONS, type Permission } from '../domain/permissions';
import type { ApiKey as ApiKeyRow } from '../generated/prisma/client';
import { isUniqueViolation, ledgerCall } from './ledger-errors';
import type { PrismaClient } from './prisma-client';
import { CaError } from '../domain/errors';

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    appKey: row.appKey,
    account: row.account,
    permissions: row.permissions.filter((p): p is Permission => (PERMISSIONS as readonly string[]).includes(p)),
    tokenHash: row.tokenHash,
    createdAt: row.createdAt,
    createdBy: row.createdBy,
    disabledAt: row.disabledAt,
  };
}

export class ApiKeyRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async create(key: ApiKey): Promise<void> {
    try {
      await this.prisma.apiKey.create({
        data: { ...key, permissions: [...key.permissions] },
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new CaError('conflict', `an API key named ${key.appKey} already exists`);
      return ledgerCall('creating an API key', () => Promise.reject(e));
    }
  }

  async find(appKey: string): Promise<ApiKey | null> {
    const row = await ledgerCall('reading an API key', () => this.prisma.apiKey.findUnique({ where: { appKey } }));
    return row ? toApiKey(row) : null;
  }

  async list(account?: string): Promise<ApiKey[]> {
    const rows = await ledgerCall('listing API keys', () =>
      this.prisma.apiKey.findMany({ where: account ? { account } : {}, orderBy: [{ createdAt: 'asc' }, { appKey: 'asc' }] }),
    );
    return rows.map(toApiKey);
  }

  /** Disables a key; returns the key as it is now, or null when there is no such key. Idempotent. */
  async disable(appKey: string, at: Date): Promise<ApiKey | null> {
    return ledgerCall('disabling an API key', async () => {
      await this.prisma.apiKey.updateMany({ where: { appKey, disabledAt: null }, data: { disabledAt: at } });
      const row = await this.prisma.apiKey.findUnique({ where: { appKey } });
      return row ? toApiKey(row) : null;
    });
  }

  /**
   * Creates `key` only when no key exists at all (first start). Replicas starting together take an
   * advisory lock first, so exactly one bootstrap key is ever created. Returns whether it was created.
   */
  async createIfNoneExist(key: ApiKey): Promise<boolean> {
    return ledgerCall('bootstrapping the admin key', () =>
      this.prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(7270381156)`;
        if ((await tx.apiKey.count()) > 0) return false;
        await tx.apiKey.create({ data: { ...key, permissions: [...key.permissions] } });
        return true;
      }),
    );
  }

  async count(): Promise<number> {
    return ledgerCall('counting API keys', () => this.prisma.apiKey.count());
  }
}
