import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ClientTlsMaterial, IdentityKeyring } from '../../src/domain/client-identity';
import { CaError } from '../../src/domain/errors';
import { verifyWebhookSignature } from '../../src/domain/webhook';
import { WebhookRepository } from '../../src/store/webhook-repository';
import { backends, createTestDatabase } from '../helpers/backends';
import { freePort, startNginx, type RunningNginx } from '../helpers/nginx';
import { openssl, tempDir } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

/** Stand-in for the identities service (branch `identities`) until merged: real material issued by this CA. */
class MapKeyring implements IdentityKeyring {
  readonly items = new Map<string, ClientTlsMaterial>();
  async tlsMaterial(account: string, identityId: string): Promise<ClientTlsMaterial> {
    const m = this.items.get(identityId);
    if (!m || m.account !== account) throw new CaError('not-found', 'no such identity');
    return m;
  }
}

interface Received {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  event: { specversion: string; id: string; type: string; source: string; subject: string; time: string; datacontenttype: string; data: Record<string, unknown> };
  clientVerify: string;
  clientDn: string;
}

/** A webhook receiver: a plain Node server behind nginx that requires a client certificate of our CA. */
async function startReceiver(): Promise<{ server: http.Server; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (req.url === '/fail') return void res.writeHead(500).end('no');
      received.push({
        path: req.url ?? '',
        id: String(req.headers['webhook-id']),
        timestamp: String(req.headers['webhook-timestamp']),
        signature: String(req.headers['webhook-signature']),
        body,
        event: JSON.parse(body),
        clientVerify: String(req.headers['x-client-verify']),
        clientDn: String(req.headers['x-client-dn']),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, received };
}

async function makeServerCert(dir: string): Promise<{ caPem: string; crt: string; key: string }> {
  const caKey = path.join(dir, 'srv-ca.key');
  const caCrt = path.join(dir, 'srv-ca.crt');
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-subj', '/CN=receiver-ca', '-days', '2', '-out', caCrt]);
  const key = path.join(dir, 'srv.key');
  const csr = path.join(dir, 'srv.csr');
  const crt = path.join(dir, 'srv.crt');
  await fs.writeFile(path.join(dir, 'srv.ext'), 'subjectAltName=DNS:receiver.test\nextendedKeyUsage=serverAuth\n');
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=receiver.test', '-out', csr]);
  await openssl(['x509', '-req', '-in', csr, '-CA', caCrt, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', path.join(dir, 'srv.ext'), '-out', crt]);
  return { caPem: await fs.readFile(caCrt, 'utf8'), crt, key };
}

const MASTER_KEY = 'webhook-test-master-key-0123456789abcdefghij';
const resolver = async (host: string) => {
  if (host !== 'receiver.test') throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address: '127.0.0.1', family: 4 }];
};
const WEBHOOK_ENV = {
  MTLS_CA_MASTER_KEY: MASTER_KEY,
  EGRESS_ALLOWED_NETWORKS: '127.0.0.1/32',
  WEBHOOK_BACKOFF_BASE_MS: '200',
  WEBHOOK_BACKOFF_MAX_MS: '1000',
  WEBHOOK_TIMEOUT_MS: '5000',
  WEBHOOK_MAX_ATTEMPTS: '3',
};

describe.each(backends())('webhooks delivered over mTLS to a receiver behind nginx (%s)', (backend) => {
  let t: TestService;
  let dir: string;
  let nginx: RunningNginx;
  let nginxDir: string;
  let nginxServers: string;
  let nginxPort: number;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let serverCaPem: string;
  let offsetMs = 0;
  const clock = { now: () => new Date(Date.now() + offsetMs) };
  const keyring = new MapKeyring();
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  let globex: Awaited<ReturnType<TestService['createKey']>>;
  let hook: { id: string; secret: string };
  const url = (p: string) => `https://receiver.test:${nginxPort}${p}`;
  const received = (type: string, serial: string) => receiver.received.filter((r) => r.path === '/hook' && r.event.type === type && r.event.subject === serial);

  beforeAll(async () => {
    dir = await tempDir('webhooks-');
    t = await startTestService(backend, { env: WEBHOOK_ENV, keyring, resolver, clock, webhooks: { pollMs: 100, expiryScanMs: 3_600_000 } });
    acme = await t.createKey('acme', ['role:tenant', 'webhooks:manage']);
    globex = await t.createKey('globex', ['role:tenant', 'webhooks:manage']);
    const srv = await makeServerCert(dir);
    serverCaPem = srv.caPem;
    const ourCa = path.join(dir, 'our-ca.pem');
    await fs.writeFile(ourCa, (await t.http.get('/ca.pem')).text);
    // The webhook's client identity: a certificate this CA issued to acme.
    const id = await issue(t, acme.headers, '/CN=webhook-sender/OU=acme/C=BR');
    keyring.items.set('sender', { identityId: 'sender', account: 'acme', keyPem: await fs.readFile(id.keyPath, 'utf8'), certificatePem: id.pem, chainPem: [], version: '1' });
    receiver = await startReceiver();
    nginxPort = await freePort();
    nginxDir = path.join(dir, 'nginx');
    nginxServers = `
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${srv.crt}; ssl_certificate_key ${srv.key};
    ssl_client_certificate ${ourCa}; ssl_verify_client on;
    location / {
      proxy_pass http://127.0.0.1:${receiver.port};
      proxy_set_header X-Client-Verify $ssl_client_verify;
      proxy_set_header X-Client-DN $ssl_client_s_dn;
    }
  }`;
    nginx = await startNginx(nginxDir, nginxServers, [nginxPort]);
  }, 180_000);

  afterAll(async () => {
    await nginx?.stop();
    await new Promise((r) => receiver?.server.close(r));
    await t?.close();
  });

  it('creates a webhook, shows the secret once, never again', async () => {
    const res = await t.http.post('/webhooks').set(acme.headers).send({ url: url('/hook'), events: ['certificate.issued', 'certificate.revoked', 'certificate.expiring'], identity: 'sender', serverCa: serverCaPem });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: expect.stringMatching(/^wh_/), account: 'acme', url: url('/hook'), identity: 'sender' });
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    hook = { id: res.body.id, secret: res.body.secret };
    const read = await t.http.get(`/webhooks/${hook.id}`).set(acme.headers);
    expect(read.status).toBe(200);
    expect(read.body.secret).toBeUndefined();
    expect(JSON.stringify((await t.http.get('/webhooks').set(acme.headers)).body)).not.toContain(hook.secret.slice(6));
    // The secret is kept wrapped: its bytes are nowhere in the ledger in clear.
    const raw = Buffer.from(hook.secret.slice(6), 'base64').toString('hex');
    const rows = await t.service.ledger.sql.query<{ dump: string }>(`SELECT encode(convert_to(row_to_json(s)::text, 'UTF8'), 'hex') AS dump FROM wrapped_secrets s`);
    expect(rows.map((r) => r.dump).join('')).not.toContain(raw);
  });

  it('delivers signed certificate.issued and certificate.revoked events over mTLS, CloudEvents-shaped', async () => {
    const c = await issue(t, acme.headers, '/CN=events-one/OU=acme/C=BR');
    const issued = await eventually(async () => received('certificate.issued', c.serialNumber)[0], 30_000, 50, 'certificate.issued at the receiver');
    expect(verifyWebhookSignature(hook.secret, issued.id, issued.timestamp, issued.body, issued.signature)).toBe(true);
    expect(verifyWebhookSignature(hook.secret, issued.id, issued.timestamp, issued.body.replace('events-one', 'events-two'), issued.signature)).toBe(false);
    expect(issued.clientVerify).toBe('SUCCESS');
    expect(issued.clientDn).toContain('CN=webhook-sender');
    expect(issued.event).toMatchObject({
      specversion: '1.0', id: issued.id, type: 'certificate.issued', source: 'http://ca.test', subject: c.serialNumber, datacontenttype: 'application/json',
      data: { serial: c.serialNumber, account: 'acme', commonName: 'events-one', notAfter: expect.any(String) },
    });
    expect(issued.body).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect((await t.http.delete(`/private-certificates/${c.serialNumber}?reason=keyCompromise`).set(acme.headers)).status).toBe(200);
    const revoked = await eventually(async () => received('certificate.revoked', c.serialNumber)[0], 30_000, 50, 'certificate.revoked at the receiver');
    expect(verifyWebhookSignature(hook.secret, revoked.id, revoked.timestamp, revoked.body, revoked.signature)).toBe(true);
    expect(revoked.event.data).toMatchObject({ serial: c.serialNumber, revocationReason: 'keyCompromise', revokedAt: expect.any(String) });
    const deliveries = await t.http.get(`/webhooks/${hook.id}/deliveries`).set(acme.headers);
    expect(deliveries.status).toBe(200);
    expect(deliveries.body.items).toEqual(expect.arrayContaining([
      expect.objectContaining({ eventId: issued.id, type: 'certificate.issued', state: 'delivered', attempts: 1, lastStatus: 204 }),
      expect.objectContaining({ eventId: revoked.id, type: 'certificate.revoked', state: 'delivered' }),
    ]));
  }, 60_000);

  it('certificate.expiring at the nearest threshold reached, once per (serial, threshold)', async () => {
    const c = await issue(t, acme.headers, '/CN=expiring-one/OU=acme/C=BR');
    const notAfter = new Date((await t.http.get(`/private-certificates/${c.serialNumber}`).set(acme.headers).set('Accept', 'application/json')).body.notAfter ?? 0);
    expect(notAfter.getTime()).toBeGreaterThan(Date.now());
    offsetMs = notAfter.getTime() - Date.now() - 6 * 86_400_000; // 6 days before notAfter: inside 30 and 7, not 1
    try {
      expect(await t.service.webhookDispatcher.scanExpiring()).toBeGreaterThanOrEqual(1);
      const got = await eventually(async () => received('certificate.expiring', c.serialNumber)[0], 30_000, 50, 'certificate.expiring at the receiver');
      expect(verifyWebhookSignature(hook.secret, got.id, got.timestamp, got.body, got.signature)).toBe(true);
      expect(got.event.data).toMatchObject({ serial: c.serialNumber, thresholdDays: 7 });
      expect(await t.service.webhookDispatcher.scanExpiring()).toBe(0); // never twice
      offsetMs += 5.5 * 86_400_000; // half a day left: the 1-day threshold
      await t.service.webhookDispatcher.scanExpiring();
      const both = await eventually(async () => (received('certificate.expiring', c.serialNumber).length >= 2 ? received('certificate.expiring', c.serialNumber) : null), 30_000, 50);
      expect(both.map((r) => r.event.data.thresholdDays).sort()).toEqual([1, 7]);
      await t.service.webhookDispatcher.scanExpiring();
      await new Promise((r) => setTimeout(r, 500));
      expect(received('certificate.expiring', c.serialNumber)).toHaveLength(2);
    } finally {
      offsetMs = 0;
    }
  }, 60_000);

  it('a receiver that was down gets every event once it is back', async () => {
    await nginx.stop();
    const certs = [await issue(t, acme.headers, '/CN=while-down-1/OU=acme/C=BR'), await issue(t, acme.headers, '/CN=while-down-2/OU=acme/C=BR')];
    // The deliveries fail while nginx is down (connection refused), and stay pending for a retry.
    await eventually(async () => {
      const items = (await t.http.get(`/webhooks/${hook.id}/deliveries`).set(acme.headers)).body.items as Array<{ serialNumber: string; lastError: string | null; state: string }>;
      return certs.every((c) => items.some((d) => d.serialNumber === c.serialNumber && d.state === 'pending' && d.lastError?.includes('connection_refused')));
    }, 30_000, 50, 'failed attempts recorded');
    nginx = await startNginx(nginxDir, nginxServers, [nginxPort]);
    for (const c of certs) await eventually(async () => received('certificate.issued', c.serialNumber)[0], 30_000, 50, `the issued event of ${c.serialNumber} after the receiver came back`);
  }, 90_000);

  it('dead-letters a delivery after WEBHOOK_MAX_ATTEMPTS failures', async () => {
    const res = await t.http.post('/webhooks').set(acme.headers).send({ url: url('/fail'), events: ['certificate.issued'], identity: 'sender', serverCa: serverCaPem });
    expect(res.status).toBe(201);
    const c = await issue(t, acme.headers, '/CN=dead-letter/OU=acme/C=BR');
    const dead = await eventually(async () => {
      const items = (await t.http.get(`/webhooks/${res.body.id}/deliveries`).set(acme.headers)).body.items as Array<{ serialNumber: string; state: string; attempts: number; lastStatus: number }>;
      return items.find((d) => d.serialNumber === c.serialNumber && d.state === 'dead');
    }, 30_000, 50, 'a dead delivery');
    expect(dead).toMatchObject({ attempts: 3, lastStatus: 500 });
    const purpose = `webhook:${String(res.body.id).replace(/^wh_/, '')}`;
    expect(await t.service.ledger.sql.query('SELECT 1 FROM wrapped_secrets WHERE purpose = $1', [purpose])).toHaveLength(1);
    expect((await t.http.delete(`/webhooks/${res.body.id}`).set(acme.headers)).status).toBe(204);
    // The signing secret is destroyed with the webhook.
    expect(await t.service.ledger.sql.query('SELECT 1 FROM wrapped_secrets WHERE purpose = $1', [purpose])).toHaveLength(0);
  }, 60_000);

  it('a tenant sees only its account: webhooks, deliveries, events', async () => {
    const mine = await t.http.post('/webhooks').set(globex.headers).send({ url: url('/globex'), events: ['certificate.issued'], serverCa: serverCaPem });
    expect(mine.status).toBe(201);
    expect(mine.body.account).toBe('globex');
    expect((await t.http.get(`/webhooks/${hook.id}`).set(globex.headers)).status).toBe(404);
    expect((await t.http.get(`/webhooks/${hook.id}/deliveries`).set(globex.headers)).status).toBe(404);
    expect((await t.http.delete(`/webhooks/${hook.id}`).set(globex.headers)).status).toBe(404);
    expect((await t.http.get('/webhooks').set(globex.headers)).body.items.map((w: { id: string }) => w.id)).toEqual([mine.body.id]);
    expect((await t.http.post('/webhooks').set(globex.headers).send({ url: url('/x'), events: ['certificate.issued'], account: 'acme' })).status).toBe(403);
    // acme's certificate makes no delivery for globex's webhook (it fails with no client certificate anyway: nothing may be attempted).
    const c = await issue(t, acme.headers, '/CN=not-for-globex/OU=acme/C=BR');
    await eventually(async () => received('certificate.issued', c.serialNumber)[0], 30_000, 50);
    expect((await t.http.get(`/webhooks/${mine.body.id}/deliveries`).set(globex.headers)).body.items).toEqual([]);
    // An admin sees both.
    const all = (await t.http.get('/webhooks').set(t.admin)).body.items.map((w: { id: string }) => w.id);
    expect(all).toEqual(expect.arrayContaining([hook.id, mine.body.id]));
  }, 60_000);

  it.each([
    ['not a URL', { url: 'receiver', events: ['certificate.issued'] }, 400],
    ['plain http without WEBHOOK_ALLOW_HTTP', { url: 'http://receiver.test/hook', events: ['certificate.issued'] }, 400],
    ['an unknown event', { url: 'https://receiver.test/hook', events: ['certificate.exploded'] }, 400],
    ['no events', { url: 'https://receiver.test/hook', events: [] }, 400],
    ['a URL with credentials', { url: 'https://u:p@receiver.test/hook', events: ['certificate.issued'] }, 400],
    ['a bad serverCa', { url: 'https://receiver.test/hook', events: ['certificate.issued'], serverCa: 'nope' }, 400],
    ['an unknown identity', { url: 'https://receiver.test/hook', events: ['certificate.issued'], identity: 'nobody' }, 400],
    ['an unknown field', { url: 'https://receiver.test/hook', events: ['certificate.issued'], secret: 'mine' }, 400],
  ])('refuses %s with problem+json', async (_what, body, status) => {
    const res = await t.http.post('/webhooks').set(acme.headers).send(body);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('refuses keys without webhooks:manage, and unknown ids', async () => {
    const signer = await t.createKey('acme', ['role:tenant']);
    expect((await t.http.get('/webhooks').set(signer.headers)).status).toBe(403);
    expect((await t.http.get('/webhooks/wh_00000000000000000000000000000000').set(acme.headers)).status).toBe(404);
    expect((await t.http.get('/webhooks/bad-id').set(acme.headers)).status).toBe(400);
  });

  it('certificate.renewed: the emission function writes the event and a delivery in the caller\'s transaction', async () => {
    const renew = await t.http.post('/webhooks').set(acme.headers).send({ url: url('/renewed'), events: ['certificate.renewed'], identity: 'sender', serverCa: serverCaPem });
    const c = await issue(t, acme.headers, '/CN=renewed-one/OU=acme/C=BR');
    // Rolled back with the caller's transaction: nothing emitted.
    await expect(t.service.ledger.sql.transaction(async (tx) => {
      await WebhookRepository.emitRenewed(tx, { serialNumber: c.serialNumber, renewedFrom: 'AB' });
      throw new Error('rollback');
    })).rejects.toThrow('rollback');
    await t.service.ledger.sql.transaction((tx) => WebhookRepository.emitRenewed(tx, { serialNumber: c.serialNumber, renewedFrom: 'AB' }));
    const got = await eventually(async () => receiver.received.find((r) => r.path === '/renewed' && r.event.subject === c.serialNumber), 30_000, 50);
    expect(got.event).toMatchObject({ type: 'certificate.renewed', data: { serial: c.serialNumber, renewedFrom: 'AB', account: 'acme' } });
    expect(receiver.received.filter((r) => r.path === '/renewed')).toHaveLength(1);
    expect(verifyWebhookSignature(renew.body.secret, got.id, got.timestamp, got.body, got.signature)).toBe(true);
  }, 60_000);
});

describe('webhooks without MTLS_CA_MASTER_KEY', () => {
  it('refuses to create one (409 naming MTLS_CA_MASTER_KEY): the secret would be kept in clear', async () => {
    const t = await startTestService('pglite');
    try {
      const res = await t.http.post('/webhooks').set(t.admin).send({ url: 'https://receiver.test/hook', events: ['certificate.issued'] });
      expect(res.status).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toContain('MTLS_CA_MASTER_KEY');
    } finally {
      await t.close();
    }
  }, 60_000);
});

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

postgresOnly('two services on one PostgreSQL', () => {
  it('deliver each event once per endpoint (SKIP LOCKED claims), woken by NOTIFY', async () => {
    const db = await createTestDatabase('postgres');
    const keyring = new MapKeyring();
    // Long poll: a prompt delivery here comes from LISTEN/NOTIFY, not from the poll.
    const opts = { db, env: WEBHOOK_ENV, keyring, resolver, webhooks: { pollMs: 60_000, expiryScanMs: 3_600_000 } };
    const a = await startTestService('postgres', opts);
    const b = await startTestService('postgres', opts);
    const dir = await tempDir('webhooks-pg-');
    const srv = await makeServerCert(dir);
    const counts = new Map<string, number>();
    const receiver = https.createServer(
      { key: await fs.readFile(srv.key), cert: await fs.readFile(srv.crt), ca: (await a.http.get('/ca.pem')).text, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const id = String(req.headers['webhook-id']);
          counts.set(id, (counts.get(id) ?? 0) + 1);
          res.writeHead(200).end();
        });
      },
    );
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const tenant = await a.createKey('acme', ['role:tenant', 'webhooks:manage']);
      const id = await issue(a, tenant.headers, '/CN=sender/OU=acme/C=BR');
      keyring.items.set('sender', { identityId: 'sender', account: 'acme', keyPem: await fs.readFile(id.keyPath, 'utf8'), certificatePem: id.pem, chainPem: [], version: '1' });
      const port = (receiver.address() as AddressInfo).port;
      const created = await b.http.post('/webhooks').set(tenant.headers).send({ url: `https://receiver.test:${port}/`, events: ['certificate.issued'], identity: 'sender', serverCa: srv.caPem });
      expect(created.status).toBe(201);
      const serials = await Promise.all(Array.from({ length: 16 }, (_, i) => issue(i % 2 ? a : b, tenant.headers, `/CN=replica-${i}/OU=acme/C=BR`).then((c) => c.serialNumber)));
      await eventually(async () => {
        const items = (await a.http.get(`/webhooks/${created.body.id}/deliveries`).set(tenant.headers)).body.items as Array<{ state: string }>;
        return items.length === serials.length && items.every((d) => d.state === 'delivered');
      }, 30_000, 50, 'every delivery delivered');
      expect(counts.size).toBe(serials.length);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    } finally {
      await new Promise((r) => receiver.close(r));
      await b.close();
      await a.close();
    }
  }, 120_000);
});
