import { readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AddressPolicy } from '../../src/outbound/address-policy';
import { OutboundConnector } from '../../src/outbound/connector';
import { OutboundError } from '../../src/outbound/outbound-error';
import { openssl, tempDir } from '../helpers/openssl';

describe('AddressPolicy', () => {
  const strict = new AddressPolicy([]);
  it.each([
    '127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255',
    '224.0.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '::127.0.0.1',
    '64:ff9b::a9fe:a9fe', '2002:a9fe:a9fe::1', 'ff02::1',
  ])('refuses %s by default', (ip) => {
    expect(strict.refusal(ip)).not.toBeNull();
  });
  it.each(['93.184.216.34', '2606:4700::1111', '8.8.8.8'])('allows the public address %s', (ip) => {
    expect(strict.refusal(ip)).toBeNull();
  });
  it('allows exactly what EGRESS_ALLOWED_NETWORKS lists, in IPv4-mapped form too', () => {
    const p = new AddressPolicy(['127.0.0.1/32', 'fd00::/8']);
    expect(p.refusal('127.0.0.1')).toBeNull();
    expect(p.refusal('::ffff:127.0.0.1')).toBeNull();
    expect(p.refusal('fd00::5')).toBeNull();
    expect(p.refusal('127.0.0.2')).not.toBeNull();
    expect(p.refusal('169.254.169.254')).not.toBeNull();
  });
  it('refuses a malformed CIDR', () => {
    expect(() => new AddressPolicy(['10.0.0.0/33'])).toThrow(/CIDR/);
  });
});

describe('OutboundConnector against a TLS server requiring client certificates', () => {
  let dir: string;
  let server: https.Server;
  let port: number;
  let ca: string;
  let otherCa: string;
  let client: { keyPem: string; certificatePem: string };

  beforeAll(async () => {
    dir = await tempDir('outbound-');
    const mk = async (name: string, subj: string, signer?: string, ext = '') => {
      const key = path.join(dir, `${name}.key`);
      const crt = path.join(dir, `${name}.crt`);
      await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
      if (!signer) await openssl(['req', '-x509', '-new', '-key', key, '-subj', subj, '-days', '2', '-out', crt]);
      else {
        await openssl(['req', '-new', '-key', key, '-subj', subj, '-out', path.join(dir, `${name}.csr`)]);
        const extFile = path.join(dir, `${name}.ext`);
        await (await import('node:fs/promises')).writeFile(extFile, ext);
        await openssl(['x509', '-req', '-in', path.join(dir, `${name}.csr`), '-CA', `${dir}/${signer}.crt`, '-CAkey', `${dir}/${signer}.key`,
          '-CAcreateserial', '-days', '2', '-extfile', extFile, '-out', crt]);
      }
      return { key: await readFile(key, 'utf8'), crt: await readFile(crt, 'utf8') };
    };
    const root = await mk('ca', '/CN=Outbound Test CA');
    const other = await mk('other', '/CN=Other CA');
    const srv = await mk('server', '/CN=localhost', 'ca', 'subjectAltName=DNS:partner.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    const cli = await mk('client', '/CN=client-1', 'ca', 'extendedKeyUsage=clientAuth\n');
    ca = root.crt;
    otherCa = other.crt;
    client = { keyPem: cli.key, certificatePem: cli.crt };
    server = https.createServer({ key: srv.key, cert: srv.crt, ca: root.crt, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'https://elsewhere.test/' }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello ${peer.subject?.CN}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  }, 60_000);
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const material = (version = '1') => ({ identityId: 'id-1', account: 'acme', chainPem: [], version, ...client });
  const resolver = async () => [{ address: '127.0.0.1', family: 4 }];

  it('presents the identity, checks the host name via SNI, connects to the checked address', async () => {
    const c = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'], resolver });
    try {
      const answer = await c.request({ url: `https://partner.test:${port}/x`, clientTls: material(), serverCaPem: ca });
      expect(answer.statusCode).toBe(200);
      expect(await answer.body.text()).toBe('hello client-1');
      const hello = await c.handshake({ url: `https://partner.test:${port}/`, clientTls: material(), serverCaPem: ca });
      expect(hello.address).toBe('127.0.0.1');
      expect(hello.serverSubject).toContain('CN=localhost');
    } finally {
      await c.close();
    }
  });

  it('does not follow a redirect', async () => {
    const c = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'] });
    try {
      const answer = await c.request({ url: `https://127.0.0.1:${port}/redirect`, clientTls: material(), serverCaPem: ca });
      expect(answer.statusCode).toBe(302);
      expect(answer.headers.location).toBe('https://elsewhere.test/');
      await answer.body.dump();
    } finally {
      await c.close();
    }
  });

  it.each([
    ['a loopback address without EGRESS_ALLOWED_NETWORKS', {}, (p: number) => `https://127.0.0.1:${p}/`, 'destination_ip_prohibited'],
    ['a host name resolving to a private address', { resolver: async () => [{ address: '10.0.0.7', family: 4 }] }, (p: number) => `https://partner.test:${p}/`, 'destination_ip_prohibited'],
    ['a name with one public and one metadata address', { resolver: async () => [{ address: '8.8.8.8', family: 4 }, { address: '169.254.169.254', family: 4 }] }, () => 'https://partner.test/', 'destination_ip_prohibited'],
    ['cloud metadata', {}, () => 'https://169.254.169.254/latest/meta-data/', 'destination_ip_prohibited'],
    ['a name that does not resolve', { allowedNetworks: ['127.0.0.1/32'] }, () => 'https://does-not-exist.invalid/', 'dns_error'],
  ])('refuses %s', async (_label, options, url, type) => {
    const c = new OutboundConnector(options as never);
    try {
      await expect(c.request({ url: url(port), clientTls: material(), serverCaPem: ca })).rejects.toMatchObject({ type });
    } finally {
      await c.close();
    }
  });

  it('does not tell the caller which internal address a host name resolves to (no DNS oracle)', async () => {
    const c = new OutboundConnector({ resolver: async () => [{ address: '10.20.30.40', family: 4 }] });
    try {
      const err = await c.request({ url: 'https://internal.corp.test/', clientTls: material(), serverCaPem: ca }).catch((e) => e);
      expect(err).toBeInstanceOf(OutboundError);
      expect(err.type).toBe('destination_ip_prohibited');
      expect(err.message).toContain('internal.corp.test');
      expect(err.message).not.toContain('10.20.30.40');
      expect(err.message).not.toMatch(/private/);
      expect(err.proxyStatus()).not.toContain('10.20.30.40');
    } finally {
      await c.close();
    }
  });

  it('fails with tls_certificate_error when the server is not signed by the pinned CA, and without client identity the server refuses', async () => {
    const c = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'], resolver });
    try {
      const wrong = await c.request({ url: `https://partner.test:${port}/`, clientTls: material(), serverCaPem: otherCa }).catch((e) => e);
      expect(wrong).toBeInstanceOf(OutboundError);
      expect(wrong.type).toBe('tls_certificate_error');
      expect(wrong.proxyStatus()).toMatch(/^mtls-ca; error=tls_certificate_error; details="/);
      const anonymous = await c.request({ url: `https://partner.test:${port}/`, serverCaPem: ca }).catch((e) => e);
      expect(anonymous).toBeInstanceOf(OutboundError);
      expect(['tls_alert_received', 'tls_protocol_error', 'connection_terminated']).toContain(anonymous.type);
    } finally {
      await c.close();
    }
  });

  it('refuses the wrong host name on the certificate and a closed port', async () => {
    const c = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'], resolver });
    try {
      await expect(c.request({ url: `https://wrong-name.test:${port}/`, clientTls: material(), serverCaPem: ca })).rejects.toMatchObject({ type: 'tls_certificate_error' });
      const closed = https.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      await expect(c.request({ url: `https://partner.test:${closedPort}/`, serverCaPem: ca })).rejects.toMatchObject({ type: 'connection_refused' });
      await expect(c.request({ url: `http://partner.test:${port}/` })).rejects.toMatchObject({ type: 'http_request_denied' });
    } finally {
      await c.close();
    }
  });
});

describe('OutboundConnector and a spoofed Host header', () => {
  it('checks the certificate against the URL host, not a Host header', async () => {
    const dir = await tempDir('outbound-host-');
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/k`, '-subj', '/CN=only-this.test',
      '-addext', 'subjectAltName=DNS:only-this.test', '-days', '1', '-out', `${dir}/c`]);
    const cert = await readFile(`${dir}/c`, 'utf8');
    const server = https.createServer({ key: await readFile(`${dir}/k`), cert }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const c = new OutboundConnector({ allowedNetworks: ['127.0.0.1/32'], resolver: async () => [{ address: '127.0.0.1', family: 4 }] });
    try {
      await expect(c.request({ url: `https://other.test:${port}/`, headers: { host: 'only-this.test' }, serverCaPem: cert })).rejects.toMatchObject({ type: 'tls_certificate_error' });
      const ok = await c.request({ url: `https://only-this.test:${port}/`, serverCaPem: cert });
      expect(await ok.body.text()).toBe('ok');
    } finally {
      await c.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
