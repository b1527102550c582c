/**
 * Runs in its own process so its peak RSS is the CRL build's alone:
 *   node crl-build-child.js <postgres url> <ca dir>
 * Full build of every revoked, unexpired certificate; then one incremental build after one more revocation.
 */
import 'reflect-metadata';
import pino from 'pino';
import { loadOrCreateCa } from '../../src/ca/ca-keystore';
import { systemClock } from '../../src/domain/clock';
import { randomSerialSource, serialToHex } from '../../src/domain/serial-number';
import { CrlPublisher } from '../../src/services/crl-publisher';
import { openLedger } from '../../src/store/ledger';

async function main(): Promise<void> {
  const [url, caDir] = process.argv.slice(2);
  const ledger = await openLedger({ kind: 'postgres', url });
  const { ca } = await loadOrCreateCa(
    { dataDir: caDir, subject: 'CN=bench', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 },
    globalThis.crypto,
    systemClock,
    randomSerialSource,
  );
  await ledger.sql.exec('DELETE FROM crls'); // force a full build
  const publisher = new CrlPublisher({
    ca,
    store: ledger.crls,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    params: { validityMs: 86_400_000, refreshMs: 21_600_000, pollMs: 3_600_000, debounceMs: 0 },
  });
  let t = process.hrtime.bigint();
  await publisher.rebuild();
  const fullMs = Number(process.hrtime.bigint() - t) / 1e6;
  const full = publisher.current()!;

  const serial = serialToHex(randomSerialSource.next());
  await ledger.sql.query(
    `INSERT INTO certificates (serial_number, account, common_name, subject, public_key_sha256, not_before, not_after, issuer_key_id, pem, issued_at, requested_by)
     VALUES ($1, 'acct', 'app', 'CN=app', 'x', now(), now() + interval '1 day', $2, 'x', now(), 'bench')`,
    [serial, ca.keyId],
  );
  await ledger.certificates.revoke(serial, { revokedAt: new Date(), reason: 'keyCompromise', revokedBy: 'bench' });
  t = process.hrtime.bigint();
  await publisher.rebuild();
  const incrementalMs = Number(process.hrtime.bigint() - t) / 1e6;
  publisher.stop();
  await ledger.close();
  process.stdout.write(
    JSON.stringify({ fullMs, incrementalMs, entries: full.entries, bytes: full.der.length, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }) + '\n',
  );
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
