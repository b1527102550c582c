import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { X509Certificate as NodeCertificate, webcrypto } from 'node:crypto';
import { BasicConstraintsExtension, X509CertificateGenerator, X509CrlGenerator, cryptoProvider } from '@peculiar/x509';
import pino from 'pino';
import { PartnerCrlCache } from '../../src/gateway/partner-crl';
import { OutboundConnector } from '../../src/outbound/connector';

cryptoProvider.set(webcrypto as unknown as Crypto);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

async function partnerCa() {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Partner CA', keys, signingAlgorithm: alg,
    notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY),
    extensions: [new BasicConstraintsExtension(true, undefined, true)],
  });
  return { keys, cert, node: new NodeCertificate(Buffer.from(cert.rawData)) };
}

async function crl(ca: Awaited<ReturnType<typeof partnerCa>>, revoked: string[], thisUpdate: Date, nextUpdate: Date, issuer = ca.cert.subject): Promise<Buffer> {
  const made = await X509CrlGenerator.create({
    issuer, thisUpdate, nextUpdate, signingAlgorithm: alg, signingKey: ca.keys.privateKey,
    entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
  });
  return Buffer.from(made.rawData);
}

/** Waits for `cond` (the cache fetches in the background), generously. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > 20_000) throw new Error(`${what} did not happen`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('PartnerCrlCache', () => {
  let server: http.Server;
  let body: Buffer = Buffer.alloc(0);
  let hits = 0;
  const paths: string[] = [];
  let base: string;
  const connector = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'], allowPlainHttp: true });

  beforeAll(async () => {
    server = http.createServer((req, res) => { hits++; paths.push(req.url ?? ''); res.end(body); }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await connector.close();
  });

  it('keeps the newer CRL when an older signed one is served again (a replay cannot un-revoke)', async () => {
    const ca = await partnerCa();
    const cache = new PartnerCrlCache(50, 60_000, connector, pino({ level: 'silent' }));
    const url = `${base}/replay.crl`;
    body = await crl(ca, ['0A'], new Date(Date.now() - 1000), new Date(Date.now() + DAY));
    const start = hits;
    cache.status(url, ca.node, '0A');
    await until(() => cache.status(url, ca.node, '0A').status === 'revoked', 'the revocation to be seen');
    // The older CRL, from before the revocation, correctly signed:
    body = await crl(ca, [], new Date(Date.now() - 60_000), new Date(Date.now() + DAY));
    const before = hits;
    await until(() => (cache.status(url, ca.node, '0A'), hits >= before + 3), 'three more fetches');
    expect(cache.status(url, ca.node, '0A').status).toBe('revoked');
    expect(hits).toBeGreaterThan(start);
  });

  it('refuses a CRL past its nextUpdate, one not signed by the anchor and one issued under another name: status stays unknown', async () => {
    const ca = await partnerCa();
    const other = await partnerCa();
    const cache = new PartnerCrlCache(50, 60_000, connector, pino({ level: 'silent' }));
    body = await crl(ca, [], new Date(Date.now() - 2 * DAY), new Date(Date.now() - DAY));
    let before = hits;
    expect(cache.status(`${base}/expired.crl`, ca.node, '0B').status).toBe('unknown');
    await until(() => (cache.status(`${base}/expired.crl`, ca.node, '0B'), hits >= before + 2), 'two fetches');
    expect(cache.status(`${base}/expired.crl`, ca.node, '0B')).toEqual({ status: 'unknown', known: false });
    body = await crl(other, [], new Date(Date.now() - 1000), new Date(Date.now() + DAY));
    before = hits;
    await until(() => (cache.status(`${base}/foreign.crl`, ca.node, '0B'), hits >= before + 2), 'two fetches');
    expect(cache.status(`${base}/foreign.crl`, ca.node, '0B')).toEqual({ status: 'unknown', known: false });
    // Signed with the anchor's key, but issued under another name: not the anchor's CRL.
    body = await crl(ca, [], new Date(Date.now() - 1000), new Date(Date.now() + DAY), 'CN=Another CA');
    before = hits;
    await until(() => (cache.status(`${base}/renamed.crl`, ca.node, '0B'), hits >= before + 2), 'two fetches');
    expect(cache.status(`${base}/renamed.crl`, ca.node, '0B')).toEqual({ status: 'unknown', known: false });
  });

  it('refuses a body over 4 MiB and follows at most 8 distribution points per partner CA', async () => {
    const ca = await partnerCa();
    const cache = new PartnerCrlCache(50, 60_000, connector, pino({ level: 'silent' }));
    body = Buffer.alloc(5 * 1024 * 1024, 0x30);
    const before = hits;
    await until(() => (cache.status(`${base}/big.crl`, ca.node, '0C'), hits >= before + 2), 'two fetches');
    expect(cache.status(`${base}/big.crl`, ca.node, '0C').known).toBe(false);
    body = await crl(ca, [], new Date(Date.now() - 1000), new Date(Date.now() + DAY));
    for (let i = 0; i < 7; i++) cache.status(`${base}/dp${i}.crl`, ca.node, '0C');
    // The ninth distinct URL of this partner CA is not fetched at all.
    expect(cache.status(`${base}/ninth.crl`, ca.node, '0C')).toEqual({ status: 'unknown', known: false });
    await until(() => cache.status(`${base}/dp0.crl`, ca.node, '0C').status === 'good', 'an earlier URL to be fetched');
    for (let i = 0; i < 5; i++) {
      expect(cache.status(`${base}/ninth.crl`, ca.node, '0C')).toEqual({ status: 'unknown', known: false });
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(paths).toContain('/dp6.crl');
    expect(paths).not.toContain('/ninth.crl');
  });
});
