import { promises as fs } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { resolveTokenPepper } from '../../src/ca/token-pepper';
import { newAppKey, newAppToken, TokenHasher } from '../../src/domain/api-key';
import type { Clock } from '../../src/domain/clock';
import { expandPermissions } from '../../src/domain/permissions';
import type { SerialSource } from '../../src/domain/serial-number';
import { startService, type Service, type ServiceOverrides } from '../../src/service';
import type { CreatedKey } from '../../src/services/key-service';
import { createTestDatabase, type BackendName, type TestDatabase } from './backends';
import { tempDir } from './openssl';

export const ADMIN = { appKey: 'test-admin-key', appToken: 'test-admin-token-0123456789abcdefghijklmnop' };

export interface TestService {
  readonly service: Service;
  readonly http: ReturnType<typeof request>;
  readonly dataDir: string;
  readonly db: TestDatabase;
  /** Headers of the bootstrap admin key. */
  readonly admin: Record<string, string>;
  createKey(account: string, permissions: string[]): Promise<CreatedKey & { headers: Record<string, string> }>;
  /** Writes a key straight into the ledger, past the API's checks, as an earlier version may have created it. */
  insertKey(account: string, permissions: string[]): Promise<{ appKey: string; appToken: string; headers: Record<string, string> }>;
  /** Stops and starts the service again on the same data directory and database. */
  restart(): Promise<TestService>;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  clock?: Clock;
  serials?: SerialSource;
  dataDir?: string;
  db?: TestDatabase;
  crl?: ServiceOverrides['crl'];
  /** How often the self-issued TLS server certificate is checked for renewal (HTTPS_PORT). */
  tlsCheckIntervalMs?: number;
  /** Where the service logs (default: stderr at MTLS_CA_TEST_LOG, silent when unset). */
  logger?: Logger;
  /** The outgoing side's identity keyring and host resolver (issue 13). */
  keyring?: ServiceOverrides['keyring'];
  resolver?: ServiceOverrides['resolver'];
  /** Webhook worker timing (issue 13). */
  webhooks?: ServiceOverrides['webhooks'];
}

export function headersOf(key: { appKey: string; appToken: string }): Record<string, string> {
  return { 'X-API-AppKey': key.appKey, 'X-API-AppToken': key.appToken };
}

/** The environment of a test service: the bootstrap admin key, silent logs, abuse limits off, then `env`. */
export function testServiceEnv(dataDir: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    MTLS_CA_DATA_DIR: dataDir,
    PUBLIC_BASE_URL: 'http://ca.test',
    MTLS_CA_BOOTSTRAP_APP_KEY: ADMIN.appKey,
    MTLS_CA_BOOTSTRAP_APP_TOKEN: ADMIN.appToken,
    LOG_LEVEL: 'silent',
    // Tests fire requests far faster than a client should; the abuse-limit tests turn these back on.
    RATE_LIMIT_SIGN_PER_IP: '0',
    RATE_LIMIT_PER_KEY: '0',
    AUTH_FAILURE_LIMIT: '0',
    ...env,
  };
}

/** The real service (real CA, real ledger) through createApp, for supertest. */
export async function startTestService(backend: BackendName, options: TestServiceOptions = {}): Promise<TestService> {
  const dataDir = options.dataDir ?? (await tempDir());
  const db = options.db ?? (await createTestDatabase(backend));
  const config = loadConfig(testServiceEnv(dataDir, options.env));
  // PGlite in tests lives in the data directory, like in production, so restarts keep it.
  const ledgerTarget = db.target.kind === 'pglite' ? { kind: 'pglite' as const, dataDir: path.join(dataDir, 'db') } : db.target;
  const logger = options.logger ?? pino({ level: process.env.MTLS_CA_TEST_LOG ?? 'silent' }, pino.destination(2));
  const service = await startService(config, logger, { clock: options.clock, serials: options.serials, ledgerTarget, crl: options.crl, tlsCheckIntervalMs: options.tlsCheckIntervalMs, keyring: options.keyring, resolver: options.resolver, webhooks: options.webhooks });
  const http = request(service.app);
  const admin = headersOf(ADMIN);
  const self: TestService = {
    service,
    http,
    dataDir,
    db,
    admin,
    async createKey(account, permissions) {
      const res = await http.post('/keys').set(admin).send({ account, permissions });
      if (res.status !== 201) throw new Error(`creating a key failed: ${res.status} ${res.text}`);
      return { ...res.body, createdAt: new Date(res.body.createdAt), headers: headersOf(res.body) };
    },
    async insertKey(account, permissions) {
      const pair = { appKey: newAppKey(), appToken: newAppToken() };
      const { pepper } = await resolveTokenPepper({ dataDir, fromEnv: config.API_TOKEN_PEPPER, vault: service.vault, hasApiKeys: true });
      const hasher = new TokenHasher(pepper);
      await service.ledger.apiKeys.create({
        appKey: pair.appKey,
        account,
        permissions: expandPermissions(permissions),
        tokenHash: hasher.hash(pair.appToken),
        createdAt: new Date(),
        createdBy: null,
        disabledAt: null,
      });
      return { ...pair, headers: headersOf(pair) };
    },
    async restart() {
      await service.close();
      return startTestService(backend, { ...options, dataDir, db });
    },
    async close() {
      await service.close();
      await db.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}
