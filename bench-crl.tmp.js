require('reflect-metadata');
const { openLedger } = require('./dist/store/ledger');
const { CrlPublisher } = require('./dist/services/crl-publisher');
const { loadOrCreateCa } = require('./dist/ca/ca-keystore');
const { randomSerialSource } = require('./dist/domain/serial-number');
const pino = require('pino');
(async () => {
  const url = 'postgresql://postgres@127.0.0.1:5432/mtlsca_crl';
  const ledger = await openLedger({ kind: 'postgres', url });
  const n = Number(process.argv[2] || 1000000);
  const have = Number((await ledger.sql.query('select count(*)::int c from certificates'))[0].c);
  if (have < n) {
    let t = Date.now();
    await ledger.sql.exec(`INSERT INTO certificates (serial_number, account, common_name, subject, public_key_sha256, not_before, not_after, issuer_key_id, pem, issued_at, requested_by, revoked_at, revocation_reason, revoked_by)
      SELECT upper('4' || substr(md5(i::text), 2) ), 'acme', 'app', 'CN=app, OU=acme', md5(i::text) || md5(i::text), now() - interval '1 day', now() + interval '300 days', 'x', 'pem', now() - (i || ' ms')::interval, 'bench', now() - (i || ' s')::interval, CASE WHEN i % 2 = 0 THEN 1 ELSE 0 END, 'bench'
      FROM generate_series(${have + 1}, ${n}) AS i`);
    await ledger.sql.exec('ANALYZE certificates');
    console.log('seeded', n - have, 'in', Date.now() - t, 'ms');
  }
  const { ca } = await loadOrCreateCa({ dataDir: '/tmp/perf/crldata', subject: 'CN=x', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 }, globalThis.crypto, { now: () => new Date() }, randomSerialSource);
  const pub = new CrlPublisher({ ca, store: ledger.crls, clock: { now: () => new Date() }, logger: pino({ level: 'silent' }), params: { validityMs: 86400000, refreshMs: 3600000, pollMs: 100000, debounceMs: 0 } });
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    await pub.rebuild();
    console.log('build ms', Number(process.hrtime.bigint() - t) / 1e6, 'entries', pub.current().entries, 'bytes', pub.current().der.length, 'rss MB', Math.round(process.memoryUsage().rss / 1e6));
  }
  await ledger.close();
})();
