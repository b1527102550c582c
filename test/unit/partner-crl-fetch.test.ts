import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { PartnerCrlCache } from '../../src/gateway/partner-crl';
import { OutboundConnector } from '../../src/outbound/connector';
import { openssl, tempDir } from '../helpers/openssl';
import { makeCa } from '../helpers/partner-ca';
import { eventually } from '../helpers/sign';

/**
 * Security review findings on partner CRL fetching (src/gateway/partner-crl.ts).
 *
 * 1. An answer other than 200 (or a declared body over 4 MiB) was dropped with `res.body.destroy()` on an
 *    unread undici body, which emits an 'error' event nobody listened to: the gateway process exited. Any
 *    partner CA (it names the URL), the CRL host, or whoever sits on a plain-HTTP path could stop the gateway.
 *
 * 2. A failed CRL fetch must not count as a fresh CRL. The cache keeps answering from the
 * last CRL it verified until that one is past its nextUpdate and older than maxStaleMs; then 'unknown', so
 * the gateway refuses (GATEWAY_FAIL_OPEN=false). Before the fix every failed attempt moved `fetchedAt` on,
 * so a CRL server that went away (or was blocked by whoever holds a revoked certificate) left the last
 * CRL "good" for ever and certificates revoked since were admitted.
 */
describe('PartnerCrlCache: fetching partner CRLs', () => {
  let dir: string;
  let server: http.Server;
  let connector: OutboundConnector;
  let failing = false;
  let crlPem: Buffer;

  beforeAll(async () => {
    dir = await tempDir('partner-crl-stale-');
    const ca = await makeCa(dir, 'stale-partner-ca');
    const cd = path.join(dir, 'crlca');
    await fs.mkdir(cd);
    await fs.writeFile(path.join(cd, 'index.txt'), '');
    await fs.writeFile(path.join(cd, 'crlnumber'), '01\n');
    await fs.writeFile(path.join(cd, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${cd}/index.txt\ncrlnumber=${cd}/crlnumber\ndefault_md=sha256\n`);
    // nextUpdate 3 s after now: due soon.
    await openssl(['ca', '-config', path.join(cd, 'ca.cnf'), '-gencrl', '-crlsec', '3', '-keyfile', ca.key, '-cert', ca.crt, '-out', path.join(cd, 'crl.pem')]);
    crlPem = await fs.readFile(path.join(cd, 'crl.pem'));
    server = http.createServer((_req, res) => {
      if (failing) {
        res.statusCode = 503;
        res.end('down');
      } else res.end(crlPem);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    connector = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'], allowPlainHttp: true, connectTimeoutMs: 2_000, responseTimeoutMs: 2_000, bodyTimeoutMs: 2_000 });
    (globalThis as { anchor?: X509Certificate }).anchor = new X509Certificate(ca.pem);
  });

  afterAll(async () => {
    await connector?.close();
    await new Promise((r) => server?.close(r));
  });

  it('takes an error answer from the CRL server as a failed fetch, not an unhandled stream error that ends the process', async () => {
    const anchor = (globalThis as { anchor?: X509Certificate }).anchor!;
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/gone.crl`;
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const cache = new PartnerCrlCache(100, 1_000, connector, logger);
    failing = true;
    try {
      expect(cache.status(url, anchor, '01').status).toBe('unknown');
      await eventually(async () => warnings.find((w) => w.includes('answered 503')), 20_000, 50, 'the failed fetch logged');
      // Let any stream error surface (jest fails the test on an unhandled 'error' event).
      await new Promise((r) => setTimeout(r, 300));
      expect(cache.status(url, anchor, '01').status).toBe('unknown');
    } finally {
      failing = false;
    }
  });

  it("answers 'unknown' once the last CRL is past nextUpdate and maxStaleMs, however often the refetch fails", async () => {
    const anchor = (globalThis as { anchor?: X509Certificate }).anchor!;
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/partner.crl`;
    const cache = new PartnerCrlCache(100, 1_000, connector, pino({ level: 'silent' }));
    const serial = '0A1B2C';
    await eventually(async () => cache.status(url, anchor, serial).status === 'good', 20_000, 50, 'the first CRL fetched');
    failing = true;
    // Every call also starts a refetch (refreshMs 100), which fails from now on.
    await eventually(async () => cache.status(url, anchor, serial).status === 'unknown', 30_000, 50, "'unknown' after nextUpdate + maxStaleMs");
    expect(cache.status(url, anchor, serial)).toEqual({ status: 'unknown', known: true });
    // A fresh CRL again: good again.
    failing = false;
    await openssl(['ca', '-config', path.join(dir, 'crlca', 'ca.cnf'), '-gencrl', '-crlsec', '3600', '-keyfile', path.join(dir, 'stale-partner-ca.key'), '-cert', path.join(dir, 'stale-partner-ca.crt'), '-out', path.join(dir, 'crlca', 'crl.pem')]);
    crlPem = await fs.readFile(path.join(dir, 'crlca', 'crl.pem'));
    await eventually(async () => cache.status(url, anchor, serial).status === 'good', 20_000, 50, 'the new CRL fetched');
  });
});
