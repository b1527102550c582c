import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { resolveLedgerPepper } from '../ca/ca-custody';
import { TokenHasher } from '../domain/api-key';
import { systemClock } from '../domain/clock';
import { openLedger } from '../store/ledger';
import { KeyService } from '../services/key-service';
import { AuditTrail } from '../services/audit-trail';
import { NO_ORIGIN } from '../domain/audit-event';
import { createLogger } from '../logger';
import pino from 'pino';
import { ledgerTargetFor } from '../service';

const USAGE = `usage:
  mtls-ca keys create --account ACCOUNT --permissions P[,P...]   (certificates:sign, certificates:read,
                                                                 certificates:revoke, admin, role:tenant, ...)
  mtls-ca keys list
  mtls-ca keys revoke APP_KEY

By default the command opens the database directly (DATABASE_URL, or the embedded database in
MTLS_CA_DATA_DIR, which must not be in use by a running server). With --url URL (or MTLS_CA_URL) it goes
through a running server's API instead, authenticated by MTLS_CA_ADMIN_KEY and MTLS_CA_ADMIN_TOKEN.`;

interface KeyOps {
  create(account: string, permissions: string[]): Promise<unknown>;
  list(): Promise<unknown>;
  revoke(appKey: string): Promise<unknown>;
  close(): Promise<void>;
}

async function direct(): Promise<KeyOps> {
  const config = loadConfig();
  const ledger = await openLedger(ledgerTargetFor(config));
  let pepper: Buffer;
  try {
    pepper = await resolveLedgerPepper(ledger.sql, { dataDir: config.MTLS_CA_DATA_DIR, masterKey: config.MTLS_CA_MASTER_KEY, pepperFromEnv: config.API_TOKEN_PEPPER });
  } catch (e) {
    await ledger.close();
    throw e;
  }
  // Key changes made here are audited like those made through the API (log lines go to stderr).
  const audit = new AuditTrail(ledger.audit, systemClock, createLogger(config.LOG_LEVEL, pino.destination(2)));
  const keys = new KeyService(ledger.apiKeys, new TokenHasher(pepper), systemClock, audit);
  return {
    create: (account, permissions) => keys.create({ account, permissions }, 'cli', NO_ORIGIN),
    list: async () => ({ items: await keys.list() }),
    revoke: (appKey) => keys.disable(appKey, undefined, NO_ORIGIN),
    close: () => ledger.close(),
  };
}

function viaApi(baseUrl: string): KeyOps {
  const appKey = process.env.MTLS_CA_ADMIN_KEY;
  const appToken = process.env.MTLS_CA_ADMIN_TOKEN;
  if (!appKey || !appToken) throw new Error('--url needs MTLS_CA_ADMIN_KEY and MTLS_CA_ADMIN_TOKEN in the environment');
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(new URL(path, baseUrl), {
      method,
      headers: { 'X-API-AppKey': appKey, 'X-API-AppToken': appToken, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${res.status} ${(json as { detail?: string }).detail ?? res.statusText}`);
    return json;
  };
  return {
    create: (account, permissions) => call('POST', '/keys', { account, permissions }),
    list: () => call('GET', '/keys'),
    revoke: (key) => call('DELETE', `/keys/${encodeURIComponent(key)}`),
    close: async () => undefined,
  };
}

export async function keysCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      permissions: { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [action, arg] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const url = values.url ?? process.env.MTLS_CA_URL;
  const ops = url ? viaApi(url) : await direct();
  try {
    let result: unknown;
    if (action === 'create') {
      if (!values.account || !values.permissions) throw new Error('keys create needs --account and --permissions');
      result = await ops.create(values.account, values.permissions.split(',').map((p) => p.trim()).filter(Boolean));
    } else if (action === 'list') {
      result = await ops.list();
    } else if (action === 'revoke' || action === 'disable') {
      if (!arg) throw new Error('keys revoke needs the APP_KEY');
      result = await ops.revoke(arg);
    } else {
      process.stderr.write(`unknown keys action "${action}"\n${USAGE}\n`);
      return 2;
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await ops.close();
  }
}
