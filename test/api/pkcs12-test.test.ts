import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pino from 'pino';
import { encodePkcs12 } from '../../src/pkcs12';
import { freePort, startNginx, type RunningNginx } from '../helpers/nginx';
import { openssl, tempDir } from '../helpers/openssl';
import { startTestService, type TestService } from '../helpers/test-service';

const run = promisify(execFile);
const PASSWORD = "p12-Tester-password";

async function keytoolList(file: string, password: string): Promise<string> {
  const { stdout } = await run('keytool', ['-list', '-storetype', 'PKCS12', '-keystore', file, '-storepass', password]);
  return stdout;
}

describe('POST /pkcs12/test: the PKCS#12 tester', () => {
  let t: TestService;
  let dir: string;
  let nginx: RunningNginx;
  let port: number;
  let serverCaPem: string;
  let reader: { headers: Record<string, string> };
  let forwarder: { headers: Record<string, string> };
  let closedPort: number;
  const logs: string[] = [];
  const p = (name: string) => path.join(dir, name);

  async function ca(name: string) {
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p(`${name}.key`), '-subj', `/CN=${name}`, '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', p(`${name}.pem`)]);
  }
  async function leaf(name: string, issuer: string, subject: string, ext: string) {
    await fs.writeFile(p(`${name}.ext`), ext);
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p(`${name}.key`), '-subj', subject, '-out', p(`${name}.csr`)]);
    await openssl(['x509', '-req', '-in', p(`${name}.csr`), '-CA', p(`${issuer}.pem`), '-CAkey', p(`${issuer}.key`), '-CAcreateserial', '-days', '1', '-extfile', p(`${name}.ext`), '-out', p(`${name}.pem`)]);
  }
  const upload = (file: Buffer | string, fields: Record<string, string>, headers = reader.headers) => {
    let req = t.http.post('/pkcs12/test').set(headers).attach('file', typeof file === 'string' ? p(file) : file, 'client.p12');
    for (const [k, v] of Object.entries(fields)) req = req.field(k, v);
    return req;
  };

  beforeAll(async () => {
    dir = await tempDir('p12test-');
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => (logs.push(String(chunk)), cb()) }));
    t = await startTestService('pglite', { env: { MTLS_CA_MASTER_KEY: 'p12test-master-key-0123456789abcdef0123', EGRESS_ALLOWED_NETWORKS: '127.0.0.1/32' }, logger });
    reader = await t.createKey('acme', ['certificates:read']);
    forwarder = await t.createKey('acme', ['forward']);

    await ca('client-ca');
    await ca('other-ca');
    await ca('server-ca');
    await leaf('client', 'client-ca', '/CN=erp-connector/OU=acme', 'extendedKeyUsage=clientAuth\n');
    await leaf('stranger', 'other-ca', '/CN=stranger', 'extendedKeyUsage=clientAuth\n');
    await leaf('server', 'server-ca', '/CN=partner', 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2\nextendedKeyUsage=serverAuth\n');
    serverCaPem = await fs.readFile(p('server-ca.pem'), 'utf8');
    const exportArgs = ['pkcs12', '-export', '-inkey', p('client.key'), '-in', p('client.pem'), '-certfile', p('client-ca.pem'), '-name', 'client', '-passout', `pass:${PASSWORD}`];
    await openssl([...exportArgs, '-out', p('default.p12')]);
    await openssl([...exportArgs, '-legacy', '-out', p('legacy.p12')]);
    await openssl([...exportArgs, '-keypbe', 'NONE', '-certpbe', 'NONE', '-out', p('keybag.p12')]);
    await openssl(['pkcs12', '-export', '-inkey', p('stranger.key'), '-in', p('stranger.pem'), '-name', 'stranger', '-passout', `pass:${PASSWORD}`, '-out', p('stranger.p12')]);
    // The client certificate with another key: openssl refuses to write that, our encoder does not check.
    await fs.writeFile(p('mismatch.p12'), await encodePkcs12({
      keyPem: await fs.readFile(p('stranger.key'), 'utf8'), certificatePem: await fs.readFile(p('client.pem'), 'utf8'), chainPem: '', password: PASSWORD, profile: 'modern',
    }));

    port = await freePort();
    nginx = await startNginx(p('nginx'), `
  server {
    listen 127.0.0.1:${port} ssl; listen 127.0.0.2:${port} ssl;
    ssl_certificate ${p('server.pem')}; ssl_certificate_key ${p('server.key')};
    ssl_client_certificate ${p('client-ca.pem')}; ssl_verify_client on;
    location / { return 200 "dn=$ssl_client_s_dn\\n"; }
  }`, [port]);
    // A live handshake is admitted like /forward: the account needs an outbound route to the target.
    closedPort = await freePort();
    const identity = await t.http.post('/identities').set(t.admin).send({ name: 'p12-tester', account: 'acme', issue: { commonName: 'p12-tester' } });
    expect(identity.status).toBe(201);
    for (const [host, routePort] of [['127.0.0.1', port], ['127.0.0.2', port], ['127.0.0.1', closedPort]] as const) {
      const route = await t.http.post('/outbound-routes').set(t.admin).send({ account: 'acme', match: { host, port: routePort }, identity: identity.body.id });
      expect(route.status).toBe(201);
    }
  }, 180_000);

  afterAll(async () => {
    await nginx?.stop();
    await t?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const verdict = (body: { javaCompatibility: { jdk: string; loads: string; reasons: string[] }[] }, jdk: string) => body.javaCompatibility.find((v) => v.jdk === jdk)!;

  it('reports an OpenSSL 3 default file: Java 17 loads it (keytool agrees), JDKs before 8u301 cannot; key, chain and leaf checked', async () => {
    const res = await upload('default.p12', { password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toMatch(/no-store/);
    const body = res.body;
    expect(body.protection.mac).toMatchObject({ algorithm: 'HMAC-SHA256', iterations: 2048 });
    expect(body.protection.keys[0].encryption.description).toBe('PBES2 (PBKDF2-hmacWithSHA256, AES-256-CBC), 2048 iterations');
    expect(verdict(body, 'legacy').loads).toBe('no');
    expect(verdict(body, 'legacy').reasons.join(' ')).toMatch(/HMAC-SHA256/);
    for (const jdk of ['8u301+', '11.0.12+', '17', '21']) expect(verdict(body, jdk).loads).toBe('yes');
    expect(await keytoolList(p('default.p12'), PASSWORD)).toMatch(/client, .*PrivateKeyEntry/);

    expect(body.keys).toEqual([expect.objectContaining({ type: 'ec', curve: 'P-256', matchesLeaf: true, friendlyName: 'client' })]);
    expect(body.leaf).toMatchObject({ subject: 'CN=erp-connector, OU=acme', issuer: 'CN=client-ca', validNow: true, clientAuth: true, key: { type: 'ec', curve: 'P-256' }, friendlyName: 'client' });
    expect(body.leaf.localKeyId).toMatch(/^[0-9a-f]+$/);
    expect(body.chain.certificates.map((c: { subject: string }) => c.subject)).toEqual(['CN=erp-connector, OU=acme', 'CN=client-ca']);
    expect(body.chain.certificates.map((c: { signedByNext: boolean | null }) => c.signedByNext)).toEqual([true, null]);
    expect(body.chain.missingIssuer).toBeNull();
    expect(body.handshake).toBeNull();
    expect(body.warnings.join('\n')).toMatch(/Java \(JDK 8 before 8u301.*cannot use this file/);
    // The password is never logged.
    expect(logs.join('')).not.toContain(PASSWORD);
  });

  it('reports an openssl -legacy file as loadable by every JDK (keytool agrees), with RC2-40 flagged as weak', async () => {
    const res = await upload('legacy.p12', { password: PASSWORD });
    expect(res.status).toBe(200);
    for (const jdk of ['legacy', '8u301+', '11.0.12+', '17', '21']) expect(verdict(res.body, jdk).loads).toBe('yes');
    expect(await keytoolList(p('legacy.p12'), PASSWORD)).toMatch(/client, .*PrivateKeyEntry/);
    expect(res.body.protection.mac.algorithm).toBe('HMAC-SHA1');
    expect(res.body.warnings.join('\n')).toMatch(/40-bit RC2: weak/);
  });

  it('says Java gets no key entry from an unencrypted keyBag (-keypbe NONE), as keytool shows', async () => {
    const res = await upload('keybag.p12', { password: PASSWORD });
    expect(res.status).toBe(200);
    expect(verdict(res.body, '17')).toMatchObject({ loads: 'no', reasons: [expect.stringMatching(/unencrypted keyBag/)] });
    expect(await keytoolList(p('keybag.p12'), PASSWORD)).toMatch(/contains 0 entries/);
  });

  it('flags a file whose key does not match the leaf certificate', async () => {
    const res = await upload('mismatch.p12', { password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.body.keys).toEqual([expect.objectContaining({ matchesLeaf: false })]);
    expect(res.body.warnings).toContain("no private key matches the leaf certificate's public key");
    expect(res.body.chain.missingIssuer).toBe('CN=client-ca');
  });

  it('answers 422 for a wrong password or a file that is not PKCS#12, 413 for a file over 256 KiB, 400/415 for a bad form', async () => {
    const wrong = await upload('default.p12', { password: 'wrong' });
    expect(wrong.status).toBe(422);
    expect(wrong.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(wrong.body).toMatchObject({ type: 'urn:mtls-ca:problem:invalid-pkcs12', reason: 'wrong-password' });
    const garbage = await upload(Buffer.from('this is not a keystore'), { password: PASSWORD });
    expect(garbage.status).toBe(422);
    expect(garbage.body).toMatchObject({ type: 'urn:mtls-ca:problem:invalid-pkcs12', reason: 'not-pkcs12' });
    const big = await upload(Buffer.alloc(300 * 1024, 0x30), { password: PASSWORD });
    expect(big.status).toBe(413);
    expect(big.headers['content-type']).toMatch(/application\/problem\+json/);
    const noPassword = await upload('default.p12', {});
    expect(noPassword.status).toBe(400);
    const json = await t.http.post('/pkcs12/test').set(reader.headers).send({ password: PASSWORD });
    expect(json.status).toBe(415);
    const anonymous = await t.http.post('/pkcs12/test').attach('file', p('default.p12')).field('password', PASSWORD);
    expect(anonymous.status).toBe(401);
  });

  it('with a target, makes a real mTLS handshake to nginx with the file: accepted for the right identity, refused for another CA', async () => {
    const target = `https://127.0.0.1:${port}/hello`;
    const ok = await upload('default.p12', { password: PASSWORD, target, serverCa: serverCaPem }, forwarder.headers);
    expect(ok.status).toBe(200);
    expect(ok.body.handshake).toMatchObject({ target, outcome: 'ok', httpStatus: 200, serverSubject: 'CN=partner' });
    expect(ok.body.handshake.protocol).toMatch(/^TLSv1\.[23]$/);
    const stranger = await upload('stranger.p12', { password: PASSWORD, target, serverCa: serverCaPem }, forwarder.headers);
    expect(stranger.status).toBe(200);
    expect(stranger.body.handshake).toMatchObject({ outcome: 'refused', httpStatus: 400, error: 'client_certificate_refused' });
  });

  it('reports a loopback target outside EGRESS_ALLOWED_NETWORKS as refused, an untrusted server and a closed port as failed; a target needs the forward permission', async () => {
    const res = await upload('default.p12', { password: PASSWORD, target: `https://127.0.0.2:${port}/`, serverCa: serverCaPem }, forwarder.headers);
    expect(res.status).toBe(200);
    expect(res.body.handshake).toMatchObject({ outcome: 'refused', error: 'destination_ip_prohibited' });
    const untrusted = await upload('default.p12', { password: PASSWORD, target: `https://127.0.0.1:${port}/` }, forwarder.headers);
    expect(untrusted.body.handshake).toMatchObject({ outcome: 'failed', error: 'tls_certificate_error' }); // no serverCa: the system store
    const closed = await upload('default.p12', { password: PASSWORD, target: `https://127.0.0.1:${closedPort}/`, serverCa: serverCaPem }, forwarder.headers);
    expect(closed.body.handshake).toMatchObject({ outcome: 'failed', error: 'connection_refused' });
    const denied = await upload('default.p12', { password: PASSWORD, target: `https://127.0.0.1:${port}/` });
    expect(denied.status).toBe(403);
    const plain = await upload('default.p12', { password: PASSWORD, target: `http://127.0.0.1:${port}/` }, forwarder.headers);
    expect(plain.status).toBe(400);
    // A target no outbound route of the account names: 403, as /forward answers.
    const unrouted = await upload('default.p12', { password: PASSWORD, target: `https://127.0.0.1:${await freePort()}/`, serverCa: serverCaPem }, forwarder.headers);
    expect(unrouted.status).toBe(403);
  });
});
