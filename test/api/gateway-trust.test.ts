import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunningGateway } from '../../src/gateway/gateway';
import { tempDir } from '../helpers/openssl';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { curl, FakeCa, memoryLogger, serveFakeCa, startTestGateway, type ClientCertificate, type FakeCaServer } from '../helpers/gateway-harness';

/** Polls `fn` until it returns true; throws after `ms` (generous: a busy 2-core machine). */
async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Which CA the gateway trusts and which CRL it believes: a CA pinned by file or fingerprint, older
 * CRLs refused, and the documented answer (503, or admission with GATEWAY_FAIL_OPEN) once the CRL
 * is past its nextUpdate and the CA is gone, checked with real TLS clients.
 */
describe('the gateway trust in its CA and CRL', () => {
  let dir: string;
  let ca: FakeCa;
  let attacker: FakeCa;
  let server: ClientCertificate;
  let good: ClientCertificate;
  let victim: ClientCertificate;
  let forged: ClientCertificate;
  const running: RunningGateway[] = [];
  const servers: FakeCaServer[] = [];

  beforeAll(async () => {
    dir = await tempDir('mtls-ca-gateway-trust-');
    ca = await FakeCa.create(dir);
    attacker = await FakeCa.create(dir, 'attacker-ca', 'CN=fake-ca Root');
    server = await ca.issueServer();
    good = await ca.issueClient('CN=app, OU=acme');
    victim = await ca.issueClient('CN=victim, OU=acme');
    forged = await attacker.issueClient('CN=app, OU=globex');
  }, 60_000);
  afterEach(async () => {
    for (const g of running.splice(0)) await g.stop();
    for (const s of servers.splice(0)) await s.close();
  });

  const serve = async (crlPem: string, host?: string) => {
    const s = await serveFakeCa(ca, crlPem, host);
    servers.push(s);
    return s;
  };
  const start = async (env: Record<string, string>, logger?: ReturnType<typeof memoryLogger>['logger']) => {
    const g = await startTestGateway({ GATEWAY_UPSTREAM: 'http://127.0.0.1:9', GATEWAY_TLS_CERT_FILE: server.certPath, GATEWAY_TLS_KEY_FILE: server.keyPath, ...env }, logger);
    running.push(g);
    return g;
  };
  /** The status and problem type a client gets (the upstream is unreachable, so an admitted request is a 502). */
  const ask = async (g: RunningGateway, who: ClientCertificate) => {
    const res = await curl(['--cert', who.certPath, '--key', who.keyPath, '--cacert', ca.pemPath, `${g.url}/x`], dir);
    return { status: res.status, type: res.status ? (JSON.parse(res.body).type as string) : 'no answer' };
  };
  const ADMITTED = { status: 502, type: 'urn:mtls-ca:problem:upstream-unavailable' };

  it('trusts the CA in GATEWAY_CA_FILE, not another one served at GATEWAY_CA_URL/ca.pem', async () => {
    const s = await serve(await ca.crl(1));
    s.caPem = attacker.pem;
    const g = await start({ GATEWAY_CA_URL: s.url, GATEWAY_CA_FILE: ca.pemPath });
    expect(await ask(g, good)).toEqual(ADMITTED);
    expect(await ask(g, forged)).toEqual({ status: 401, type: 'urn:mtls-ca:problem:client-certificate-rejected' });
  });

  it('admits only certificates of the issuing CA, not others its root (also trusted, as the chain) issued', async () => {
    const root = await FakeCa.create(dir, 'chain-root');
    const issuing = await root.issueCa('chain-issuing');
    const chainPath = path.join(dir, 'chain.pem');
    await fs.writeFile(chainPath, issuing.pem + root.pem);
    const s = await serveFakeCa(issuing, await issuing.crl(1));
    servers.push(s);
    s.caPem = issuing.pem + root.pem;
    const g = await start({ GATEWAY_CA_URL: s.url, GATEWAY_CA_FILE: chainPath });
    expect(await ask(g, await issuing.issueClient('CN=app, OU=acme'))).toEqual(ADMITTED);
    const sibling = await root.issueClient('CN=app, OU=globex');
    expect(await ask(g, sibling)).toEqual({ status: 401, type: 'urn:mtls-ca:problem:client-certificate-rejected' });
  });

  it('refuses to start when the CA URL serves another CA and its CRLs, whatever the pin', async () => {
    const s = await serve(await attacker.crl(1));
    s.caPem = attacker.pem;
    await expect(start({ GATEWAY_CA_URL: s.url, GATEWAY_CA_FILE: ca.pemPath })).rejects.toThrow(/no CRL signed by the CA/);
  });

  it('starts only when the fetched CA has GATEWAY_CA_FINGERPRINT (hex, colons and case as openssl prints it)', async () => {
    const s = await serve(await ca.crl(1));
    const fingerprint = Buffer.from(await ca.cert.getThumbprint('SHA-256')).toString('hex');
    const openssl = fingerprint.toUpperCase().match(/../g)!.join(':');
    const g = await start({ GATEWAY_CA_URL: s.url, GATEWAY_CA_FINGERPRINT: openssl });
    expect(await ask(g, good)).toEqual(ADMITTED);
    // An on-path attacker serving its own CA and CRLs, then the real CA with its own root appended.
    s.caPem = attacker.pem;
    s.crlPem = await attacker.crl(1);
    await expect(start({ GATEWAY_CA_URL: s.url, GATEWAY_CA_FINGERPRINT: fingerprint })).rejects.toThrow(/not GATEWAY_CA_FINGERPRINT/);
    s.caPem = ca.pem + attacker.pem;
    s.crlPem = await ca.crl(1);
    await expect(start({ GATEWAY_CA_URL: s.url, GATEWAY_CA_FINGERPRINT: fingerprint })).rejects.toThrow(/did not issue/);
  });

  it('warns at start when GATEWAY_CA_URL is plain HTTP to a host that is not loopback, and not for loopback', async () => {
    const address = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && !a.internal && a.family === 'IPv4')?.address;
    if (!address) return void expect(address).toBeUndefined(); // no network interface to try it on
    const warned = (lines: Array<Record<string, unknown>>) => lines.some((l) => l.level === 40 && String(l.msg).includes('GATEWAY_CA_URL is plain HTTP'));
    const remote = memoryLogger();
    await start({ GATEWAY_CA_URL: (await serve(await ca.crl(1), address)).url, GATEWAY_CA_FILE: ca.pemPath }, remote.logger);
    expect(warned(remote.lines)).toBe(true);
    const local = memoryLogger();
    await start({ GATEWAY_CA_URL: (await serve(await ca.crl(1))).url }, local.logger);
    expect(warned(local.lines)).toBe(false);
  });

  it('refuses an older CRL, and one with the same number but other content, keeping the newer one (a revoked certificate stays out)', async () => {
    const s = await serve(await ca.crl(4));
    const log = memoryLogger();
    const g = await start({ GATEWAY_CA_URL: s.url, GATEWAY_ALLOW: '/=acme' }, log.logger);
    expect(await ask(g, victim)).toEqual(ADMITTED);
    s.crlPem = await ca.crl(5, [victim.serialNumber]);
    await waitFor('the revocation to take effect', async () => (await ask(g, victim)).status === 401);
    const refusedAs = (verdict: string) => log.lines.some((l) => l.msg === 'refused a fetched CRL; keeping the one held' && l.verdict === verdict);
    s.crlPem = await ca.crl(4);
    await waitFor('the older CRL to be refused, or let in', async () => refusedAs('older') || (await ask(g, victim)).status !== 401);
    expect(await ask(g, victim)).toEqual({ status: 401, type: 'urn:mtls-ca:problem:client-certificate-rejected' });
    expect(refusedAs('older')).toBe(true);
    s.crlPem = await ca.crl(5);
    await waitFor('the rewritten CRL 5 to be refused, or let in', async () => refusedAs('same-number-different-content') || (await ask(g, victim)).status !== 401);
    expect((await ask(g, victim)).status).toBe(401);
    expect(refusedAs('same-number-different-content')).toBe(true);
  });

  it('after the CRL nextUpdate with the CA unreachable answers 503 (fail closed), or admits with GATEWAY_FAIL_OPEN=true: never a TLS failure', async () => {
    const s = await serve(await ca.crl(1));
    const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(s.url).port) });
    try {
      const caUrl = `http://127.0.0.1:${proxy.port}`;
      const closed = await start({ GATEWAY_CA_URL: caUrl });
      const open = await start({ GATEWAY_CA_URL: caUrl, GATEWAY_FAIL_OPEN: 'true' });
      // The CA goes away while a CRL valid for an hour is held: nothing changes.
      proxy.cut();
      expect(await ask(closed, good)).toEqual(ADMITTED);
      proxy.restore();
      // A new CRL valid for 3 s revokes one certificate; once both gateways hold it, the CA goes away for good.
      s.crlPem = await ca.crl(2, [victim.serialNumber], 3000);
      for (const g of [closed, open]) await waitFor('CRL 2 to be held', async () => (await ask(g, victim)).status === 401);
      proxy.cut();
      await waitFor('the held CRL to pass its nextUpdate', async () => (await ask(closed, good)).status !== ADMITTED.status);
      expect(await ask(closed, good)).toEqual({ status: 503, type: 'urn:mtls-ca:problem:revocation-status-unknown' });
      expect(await ask(closed, victim)).toEqual({ status: 503, type: 'urn:mtls-ca:problem:revocation-status-unknown' });
      expect(await ask(open, good)).toEqual(ADMITTED);
      expect(await ask(open, victim)).toEqual({ status: 401, type: 'urn:mtls-ca:problem:client-certificate-rejected' });
    } finally {
      await proxy.close();
    }
  });
});
