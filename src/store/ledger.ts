import { PartnerTrustRepository } from './partner-trust-repository';
import path from 'node:path';
import { ApiKeyRepository } from './api-key-repository';
import { AuditRepository } from './audit-repository';
import { CertificateRepository } from './certificate-repository';
import { CrlRepository } from './crl-repository';
import { lockDataDir } from './data-dir-lock';
import { migrate } from './migrations';
import { openPglite } from './pglite';
import { openPostgres } from './postgres';
import { prismaForPglite, prismaForPostgres, type PrismaClient } from './prisma-client';
import type { SqlDatabase } from './sql';

export type LedgerTarget =
  /** `timeoutMs`: how long to wait for a connection or an answer before failing (default 5000). */
  | { kind: 'postgres'; url: string; poolSize?: number; timeoutMs?: number }
  /** `dataDir` undefined: in memory (tests). */
  | { kind: 'pglite'; dataDir?: string };

/** Connections of the PostgreSQL pool (pg's totalCount, idleCount, waitingCount and max). */
export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
  readonly max: number;
}

/** The opened certificate ledger: raw SQL, Prisma, and the repositories built on them. */
export interface Ledger {
  readonly kind: 'postgres' | 'pglite';
  readonly sql: SqlDatabase;
  readonly prisma: PrismaClient;
  readonly certificates: CertificateRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly crls: CrlRepository;
  readonly audit: AuditRepository;
  readonly partnerTrust: PartnerTrustRepository;
  /** The PostgreSQL pool's connections; null for PGlite (one embedded, in-process connection, no pool). */
  poolStats(): PoolStats | null;
  /** True when the database answers a trivial query within `withinMs` (default 1000); concurrent calls share one query. */
  ping(withinMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens the database, applies pending migrations, and builds the repositories. */
export async function openLedger(target: LedgerTarget): Promise<Ledger> {
  let sql: SqlDatabase;
  let prisma: PrismaClient;
  let release: () => Promise<void> = async () => undefined;
  let poolStats: () => PoolStats | null = () => null;
  // PostgreSQL: the wait for a connection, an answer, or a slot for a write (PGlite is in-process: no bound).
  const timeoutMs = target.kind === 'postgres' ? (target.timeoutMs ?? 5000) : undefined;
  if (target.kind === 'postgres') {
    const { db, pool } = openPostgres(target.url, { poolSize: target.poolSize ?? 10, timeoutMs: timeoutMs! });
    poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 });
    sql = db;
    prisma = prismaForPostgres(pool);
  } else {
    if (target.dataDir) release = await lockDataDir(path.resolve(target.dataDir));
    try {
      const { db, pglite } = await openPglite(target.dataDir ? path.resolve(target.dataDir, 'pglite') : undefined);
      sql = db;
      prisma = prismaForPglite(pglite);
    } catch (e) {
      await release();
      throw e;
    }
  }
  try {
    await migrate(sql);
  } catch (e) {
    await sql.close().catch(() => undefined);
    await release();
    throw e;
  }
  // PGlite runs each statement on this thread: batches of signed certificates gather the rows of a whole
  // turn of the event loop. (Audit appends alone are rare — failures, key changes — and are written at once.)
  const gatherTurn = sql.kind === 'pglite';
  let closed = false;
  let pinging: Promise<boolean> | null = null;
  return {
    kind: sql.kind,
    sql,
    prisma,
    certificates: new CertificateRepository(prisma, sql, { maxWaitMs: timeoutMs, gatherTurn }),
    apiKeys: new ApiKeyRepository(prisma),
    crls: new CrlRepository(prisma, sql),
    audit: new AuditRepository(sql, { maxWaitMs: timeoutMs }),
    partnerTrust: new PartnerTrustRepository(sql),
    poolStats,
    ping(withinMs = 1000) {
      // Bounded: a hung database must make readiness say no promptly, not after the pool's timeouts.
      pinging ??= new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), withinMs);
        sql.query('SELECT 1').then(
          () => resolve(true),
          () => resolve(false),
        ).finally(() => clearTimeout(timer));
      }).finally(() => (pinging = null));
      return pinging;
    },
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect().catch(() => undefined);
      await sql.close();
      await release();
    },
  };
}
