import { parseArgs } from 'node:util';
import { promises as fs } from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../config';
import { resolveCaCustody } from '../ca/ca-custody';
import { systemClock } from '../domain/clock';
import { IssuanceProfile } from '../domain/issuance-profile';
import { randomSerialSource } from '../domain/serial-number';
import { openLedger } from '../store/ledger';
import { IssuerRegistry } from '../services/issuer-registry';
import { AuditTrail } from '../services/audit-trail';
import { NO_ORIGIN, type AuditAction } from '../domain/audit-event';
import { createLogger } from '../logger';
import { custodyParamsOf, ledgerTargetFor } from '../service';

const USAGE = `usage:
  mtls-ca ca list                       the CA's issuers (pending, active, retired)
  mtls-ca ca rotate [--csr]             a new pending issuer: a self-signed root, or (--csr) a key and a CSR for an offline root
  mtls-ca ca certificate ID FILE        give a pending issuer the certificate (PEM, then its chain) the offline root signed
  mtls-ca ca activate ID                make issuer ID the one that signs; the active one retires

By default the command opens the database directly (DATABASE_URL, or the embedded database in
MTLS_CA_DATA_DIR, which must not be in use by a running server) with the service's CA settings
(MTLS_CA_MASTER_KEY, CA_*). With --url URL (or MTLS_CA_URL) it goes through a running server's API,
authenticated by MTLS_CA_ADMIN_KEY and MTLS_CA_ADMIN_TOKEN. Running replicas follow within a second.`;

interface CaOps {
  list(): Promise<unknown>;
  rotate(csr: boolean): Promise<unknown>;
  certificate(id: string, pem: string): Promise<unknown>;
  activate(id: string): Promise<unknown>;
  close(): Promise<void>;
}

async function direct(): Promise<CaOps> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, pino.destination(2));
  const ledger = await openLedger(ledgerTargetFor(config));
  try {
    const custody = await resolveCaCustody(ledger.sql, custodyParamsOf(config), globalThis.crypto, systemClock, randomSerialSource);
    const registry = new IssuerRegistry({
      db: ledger.sql,
      original: { ca: custody.ca, backend: custody.identity.backend },
      vault: custody.vault,
      dataDir: config.MTLS_CA_DATA_DIR,
      passphrase: config.CA_KEY_PASSPHRASE,
      root: { subject: config.CA_SUBJECT, keyAlgorithm: config.CA_KEY_ALGORITHM, validityDays: config.CA_VALIDITY_DAYS },
      profile: new IssuanceProfile({
        validityDays: config.CERT_VALIDITY_DAYS,
        maxValidityDays: config.CERT_MAX_VALIDITY_DAYS,
        backdateSeconds: config.CERT_BACKDATE_SECONDS,
        publicBaseUrl: config.PUBLIC_BASE_URL,
      }),
      clock: systemClock,
      crypto: globalThis.crypto,
      logger,
    });
    await registry.recordOriginal();
    await registry.refresh();
    // Changes made here are audited like those made through the API.
    const audit = new AuditTrail(ledger.audit, systemClock, logger);
    const audited = async <T extends { id: string; keyId: string }>(action: AuditAction, made: T): Promise<T> => {
      await audit.record({ ...NO_ORIGIN, action, outcome: 'success', actor: 'cli', details: { issuer: made.id, keyId: made.keyId } });
      return made;
    };
    return {
      list: async () => ({ items: registry.list() }),
      rotate: async (csr) => audited('ca.rotate', await registry.rotate({ csr })),
      certificate: async (id, pem) => audited('ca.certificate', await registry.setCertificate(id, pem)),
      activate: async (id) => audited('ca.activate', await registry.activate(id)),
      close: async () => {
        await audit.drain();
        await ledger.close();
        await custody.ca.signer.close();
      },
    };
  } catch (e) {
    await ledger.close();
    throw e;
  }
}

function viaApi(baseUrl: string): CaOps {
  const appKey = process.env.MTLS_CA_ADMIN_KEY;
  const appToken = process.env.MTLS_CA_ADMIN_TOKEN;
  if (!appKey || !appToken) throw new Error('--url needs MTLS_CA_ADMIN_KEY and MTLS_CA_ADMIN_TOKEN in the environment');
  const call = async (method: string, path: string, body?: string, type = 'application/json') => {
    const res = await fetch(new URL(path, baseUrl), {
      method,
      headers: { 'X-API-AppKey': appKey, 'X-API-AppToken': appToken, ...(body !== undefined ? { 'Content-Type': type } : {}) },
      body,
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${res.status} ${(json as { detail?: string }).detail ?? res.statusText}`);
    return json;
  };
  return {
    list: () => call('GET', '/ca/issuers'),
    rotate: (csr) => call('POST', '/ca/issuers', JSON.stringify(csr ? { csr: true } : {})),
    certificate: (id, pem) => call('PUT', `/ca/issuers/${encodeURIComponent(id)}/certificate`, pem, 'application/x-pem-file'),
    activate: (id) => call('POST', `/ca/issuers/${encodeURIComponent(id)}/activate`),
    close: async () => undefined,
  };
}

export async function caCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { csr: { type: 'boolean' }, url: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [action, id, file] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (!['list', 'rotate', 'certificate', 'activate'].includes(action)) {
    process.stderr.write(`unknown ca action "${action}"\n${USAGE}\n`);
    return 2;
  }
  if ((action === 'activate' || action === 'certificate') && !id) throw new Error(`ca ${action} needs the issuer ID`);
  if (action === 'certificate' && !file) throw new Error('ca certificate needs the PEM FILE');
  const pem = action === 'certificate' ? await fs.readFile(file!, 'utf8') : '';
  const url = values.url ?? process.env.MTLS_CA_URL;
  const ops = url ? viaApi(url) : await direct();
  try {
    const result =
      action === 'list' ? await ops.list() : action === 'rotate' ? await ops.rotate(Boolean(values.csr)) : action === 'certificate' ? await ops.certificate(id!, pem) : await ops.activate(id!);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await ops.close();
  }
}
