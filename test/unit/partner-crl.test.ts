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
});
