import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { rewrapLedgerSecrets } from '../ca/ca-custody';
import { MASTER_KEY_MIN_LENGTH } from '../ca/master-key';
import { openLedger } from '../store/ledger';
import { ledgerTargetFor } from '../service';

const USAGE = `usage:
  mtls-ca secrets rewrap [--old-key-file FILE] [--new-key-file FILE]

Re-wraps every secret the ledger keeps (the CA private key, the API-token pepper, ...) from the current
master key to a new one, in one transaction: afterwards only the new key opens the ledger, so restart
every replica with it. The old key comes from MTLS_CA_MASTER_KEY (or --old-key-file), the new one from
MTLS_CA_NEW_MASTER_KEY (or --new-key-file; at least ${MASTER_KEY_MIN_LENGTH} characters). Keys are never
taken from the command line itself. Opens the database like the server does (DATABASE_URL, or the
embedded database in MTLS_CA_DATA_DIR, which must not be in use by a running server).`;

async function readKey(file: string | undefined, fromEnv: string | undefined, name: string): Promise<string> {
  const key = file ? (await fs.readFile(file, 'utf8')).replace(/\r?\n$/, '') : fromEnv;
  if (!key) throw new Error(`${name} is not set (or give it in a file with --${name === 'MTLS_CA_MASTER_KEY' ? 'old' : 'new'}-key-file)`);
  if (key.length < MASTER_KEY_MIN_LENGTH) throw new Error(`${name} must be at least ${MASTER_KEY_MIN_LENGTH} characters`);
  return key;
}

export async function secretsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'old-key-file': { type: 'string' }, 'new-key-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [action] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (action !== 'rewrap') {
    process.stderr.write(`unknown secrets action "${action}"\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const oldKey = await readKey(values['old-key-file'], config.MTLS_CA_MASTER_KEY, 'MTLS_CA_MASTER_KEY');
  const newKey = await readKey(values['new-key-file'], process.env.MTLS_CA_NEW_MASTER_KEY || undefined, 'MTLS_CA_NEW_MASTER_KEY');
  const ledger = await openLedger(ledgerTargetFor(config));
  try {
    const { version, count } = await rewrapLedgerSecrets(ledger.sql, oldKey, newKey);
    process.stdout.write(
      `rewrapped ${count} secret${count === 1 ? '' : 's'} under master key version ${version}; ` +
        'restart every replica with the new key as MTLS_CA_MASTER_KEY (the old key no longer opens this ledger)\n',
    );
    return 0;
  } finally {
    await ledger.close();
  }
}
