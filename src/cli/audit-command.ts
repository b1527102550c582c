import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { openLedger } from '../store/ledger';
import { ledgerTargetFor } from '../service';
import { verifyAuditChain } from '../services/audit-verification';

const USAGE = `usage:
  mtls-ca audit verify [--page-size N]

Walks the audit trail's hash chain from the first record to the newest, a page at a time, and checks
every link. Exit 0 and the record count and head hash when intact (keep the head hash somewhere else:
it also proves later that nothing was cut off the end); exit 1 and the first broken link otherwise.
Opens the database like the server does (DATABASE_URL, or the embedded database in MTLS_CA_DATA_DIR,
which must not be in use by a running server).`;

export async function auditCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'page-size': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [action] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (action !== 'verify') {
    process.stderr.write(`unknown audit action "${action}"\n${USAGE}\n`);
    return 2;
  }
  const pageSize = Number(values['page-size'] ?? 1000);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000) throw new Error('--page-size must be an integer from 1 to 100000');

  const ledger = await openLedger(ledgerTargetFor(loadConfig()));
  try {
    const report = await verifyAuditChain(ledger.audit, pageSize);
    if (report.intact) {
      process.stdout.write(
        report.count === 0
          ? 'audit trail intact: 0 records (empty)\n'
          : `audit trail intact: ${report.count} records, head seq ${report.head.seq} hash ${report.head.hash}\n`,
      );
      return 0;
    }
    const b = report.break;
    process.stdout.write(
      `audit trail BROKEN at seq ${b.seq}: ${b.field} expected ${b.expected} found ${b.found} (${report.count} records intact before it)\n`,
    );
    return 1;
  } finally {
    await ledger.close();
  }
}
