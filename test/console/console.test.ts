import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway';
import { packagePath } from '../../src/package-dir';
import { curl } from '../helpers/gateway-harness';
import { makeCsr, openssl, opensslStatus } from '../helpers/openssl';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';
import { eventually } from '../helpers/sign';

const run = promisify(execFile);
const CHROMIUM = process.env.MTLS_CA_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of the main pages, kept after the run (look at them). */
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts', 'console');

const unavailable = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium)`
  : !packagePath(path.join('dist', 'console', 'index.html'))
    ? 'the console is not built (npm run build)'
    : null;
if (unavailable) process.stdout.write(`\nConsole browser tests skipped: ${unavailable}\n`);
const describeBrowser = unavailable ? describe.skip : describe;

describeBrowser('the web console in a real browser (Chromium)', () => {
  let t: TestService;
  let server: Server;
  let base: string;
  let browser: Browser;
  let gateway: RunningGateway;
  let upstream: Server;
  const cspViolations: string[] = [];
  /** The tenant key the admin makes in the first test, used by the next ones. */
  let tenant: { appKey: string; appToken: string };

  beforeAll(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    t = await startTestService('pglite', { crl: { pollMs: 100, debounceMs: 20 } });
    server = t.service.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });

    // The incoming gateway in front of an echo upstream, trusting this CA, for the certificate made in the browser.
    upstream = (await import('node:http')).createServer((req, res) => res.end(JSON.stringify({ account: req.headers['x-client-account'] ?? null })));
    upstream.listen(0, '127.0.0.1');
    await new Promise((r) => upstream.once('listening', r));
    const dir = t.dataDir;
    const o = (args: string[]) => openssl(args, { cwd: dir });
    await o(['req', '-x509', '-new', '-nodes', '-subj', '/CN=gateway CA', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'gw-ca.key', '-out', 'gw-ca.pem', '-days', '2']);
    await o(['req', '-new', '-nodes', '-subj', '/CN=127.0.0.1', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'gw.key', '-out', 'gw.csr']);
    await fs.writeFile(path.join(dir, 'gw-san.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await o(['x509', '-req', '-in', 'gw.csr', '-CA', 'gw-ca.pem', '-CAkey', 'gw-ca.key', '-CAcreateserial', '-out', 'gw.crt', '-days', '2', '-extfile', 'gw-san.cnf']);
    gateway = await startGateway(
      loadGatewayConfig({
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        GATEWAY_CA_URL: base,
        GATEWAY_TLS_CERT_FILE: path.join(dir, 'gw.crt'),
        GATEWAY_TLS_KEY_FILE: path.join(dir, 'gw.key'),
        GATEWAY_CRL_REFRESH_SECONDS: '1',
      }),
      pino({ level: 'silent' }),
    );
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    upstream?.close();
    server?.close();
    await t?.close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
    return page;
  }

  async function signIn(page: Page, key: { appKey: string; appToken: string }) {
    await page.goto(`${base}/console/`);
    await page.getByLabel('App key').fill(key.appKey);
    await page.getByLabel('App token').fill(key.appToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  async function shot(page: Page, name: string) {
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  it('serves the console with its own CSP and the API keeps default-src none', async () => {
    const consoleAnswer = await fetch(`${base}/console/certificates/ABC`);
    expect(consoleAnswer.status).toBe(200);
    expect(consoleAnswer.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(consoleAnswer.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(await consoleAnswer.text()).toContain('<div id="app">');
    const api = await fetch(`${base}/ca.pem`);
    expect(api.headers.get('content-security-policy')).toContain("default-src 'none'");
    const missing = await fetch(`${base}/console/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
  });

  it('an admin signs in, creates a tenant key whose token is shown once, and the tenant uses it', async () => {
    const page = await newPage();
    // A wrong token: the API's problem detail is shown, and nothing is kept.
    await page.goto(`${base}/console/`);
    await page.getByLabel('App key').fill(ADMIN.appKey);
    await page.getByLabel('App token').fill('wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Unauthorized' }).waitFor();
    await shot(page, '01-sign-in-refused');

    await signIn(page, ADMIN);
    expect(await page.evaluate(() => [localStorage.length, document.cookie])).toEqual([0, '']);
    await page.getByRole('link', { name: 'Dashboard' }).waitFor();
    await page.locator('canvas').first().waitFor();
    await shot(page, '02-dashboard-admin');

    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Account').fill('acme');
    await page.getByLabel('Role').selectOption('role:tenant');
    await page.getByRole('button', { name: 'Create key' }).click();
    const appKey = (await page.getByTestId('new-app-key').textContent())!;
    const appToken = (await page.getByTestId('new-app-token').textContent())!;
    expect(appToken.length).toBeGreaterThanOrEqual(43);
    await shot(page, '03-key-created');
    // Shown once: after leaving and coming back, the list has the key and nowhere the token.
    await page.getByRole('button', { name: 'Done' }).click();
    await page.reload();
    await page.getByRole('cell', { name: appKey, exact: true }).waitFor();
    expect(await page.content()).not.toContain(appToken);

    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.getByTestId('chain-status').filter({ hasText: 'Hash chain verified' }).waitFor();
    await page.getByRole('cell', { name: 'key.create' }).first().waitFor();
    await shot(page, '04-audit');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    // The tenant: no admin pages in the menu, and none by URL either.
    await signIn(page, { appKey, appToken });
    await expect(page.getByRole('link', { name: 'API keys' }).count()).resolves.toBe(0);
    await page.goto(`${base}/console/keys`);
    await page.getByText('This API key may not use this page.').waitFor();
    await page.close();
    tenant = { appKey, appToken };
  });

  it('a tenant generates a key and certificate in the browser, downloads a PKCS#12 that openssl, keytool, curl and the gateway accept, then revokes it', async () => {
    const page = await newPage();
    const sent: string[] = [];
    page.on('request', (r) => sent.push(r.postData() ?? ''));
    await signIn(page, tenant);
    await page.getByRole('link', { name: 'Request a certificate' }).click();
    // The form checks before sending.
    await page.getByLabel('Common name').fill('bad name!');
    await page.getByRole('button', { name: 'Generate and sign' }).click();
    await page.getByRole('alert').filter({ hasText: 'Common name' }).waitFor();

    await page.getByLabel('Common name').fill('browser-client');
    await page.getByLabel('Key type').selectOption('ec-p256');
    await page.getByRole('button', { name: 'Generate and sign' }).click();
    const serial = (await page.getByTestId('issued-serial').textContent())!;
    expect(serial).toMatch(/^[0-9A-F]+$/);
    await page.getByLabel('Password').fill('console-pass-1');
    const [p12Download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download PKCS#12' }).click()]);
    const dir = t.dataDir;
    const p12 = path.join(dir, 'browser-client.p12');
    await p12Download.saveAs(p12);
    const [pemDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download PEM' }).click()]);
    await pemDownload.saveAs(path.join(dir, 'browser-client.pem'));
    await shot(page, '05-request-issued');

    // The private key never left the browser: only a CSR (public key) was posted.
    expect(sent.some((body) => body.includes('PRIVATE KEY'))).toBe(false);
    expect(sent.some((body) => body.includes('BEGIN CERTIFICATE REQUEST'))).toBe(true);

    const info = await openssl(['pkcs12', '-in', p12, '-info', '-noout', '-passin', 'pass:console-pass-1']);
    expect(info.stdout + info.stderr).toMatch(/MAC: sha256/);
    const { stdout: keytool } = await run('keytool', ['-list', '-v', '-storetype', 'PKCS12', '-keystore', p12, '-storepass', 'console-pass-1']);
    expect(keytool).toMatch(/Alias name: browser-client/);
    expect(keytool).toMatch(/Entry type: PrivateKeyEntry/);
    await fs.writeFile(path.join(dir, 'ca-bundle.pem'), await (await fetch(`${base}/ca.pem`)).text());
    await openssl(['pkcs12', '-in', p12, '-clcerts', '-nokeys', '-out', path.join(dir, 'leaf.pem'), '-passin', 'pass:console-pass-1']);
    expect((await opensslStatus(['verify', '-CAfile', 'ca-bundle.pem', 'leaf.pem'], dir)).output).toContain('leaf.pem: OK');

    // The PKCS#12 through the gateway, as `curl --cert-type P12` (the user's command).
    const through = () => curl(['--cert-type', 'P12', '--cert', `${p12}:console-pass-1`, '--cacert', 'gw-ca.pem', `${gateway.url}/orders`], dir);
    const admitted = await through();
    expect(admitted.status).toBe(200);
    expect(JSON.parse(admitted.body).account).toBe('acme');

    // The list shows it; the detail revokes it; the list shows the new state at once.
    await page.getByRole('link', { name: 'Certificates', exact: true }).click();
    await page.getByRole('link', { name: 'browser-client' }).click();
    await page.getByTestId('serial-hex').filter({ hasText: serial }).waitFor();
    await shot(page, '06-certificate-detail');
    await page.getByLabel('Reason').selectOption('keyCompromise');
    await page.getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.getByRole('button', { name: 'Confirm revocation' }).click();
    await page.locator('.badge-revoked').waitFor();
    await page.getByRole('link', { name: 'Certificates', exact: true }).click();
    await page.locator(`tr[data-serial="${serial}"] .badge-revoked`).waitFor();
    await shot(page, '07-certificates-after-revoke');

    // On the CRL, and the gateway refuses it (within its refresh period).
    await fs.writeFile(path.join(dir, 'ca.crl'), Buffer.from(await (await fetch(`${base}/crl`)).arrayBuffer()));
    const crl = await openssl(['crl', '-inform', 'DER', '-in', 'ca.crl', '-noout', '-text'], { cwd: dir });
    expect(crl.stdout.replace(/\s/g, '')).toContain(`SerialNumber:${serial}`);
    await eventually(async () => (await through()).status !== 200, 30_000, 250, 'the gateway refusing the revoked certificate');
    expect((await through()).status).not.toBe(200);
    await page.close();
  });

  it('a tenant cannot reach another account’s certificate by URL', async () => {
    const { csr } = await makeCsr(t.dataDir, 'other', '/CN=other-client/OU=globex');
    const signed = await t.http.post('/private-certificates/sign').set(t.admin).set('Content-Type', 'text/plain').set('Accept', 'application/json').send(csr.toString());
    expect(signed.status).toBe(200);
    const page = await newPage();
    await signIn(page, tenant);
    await page.goto(`${base}/console/certificates/${signed.body.serialNumber}`);
    await page.getByRole('alert').filter({ hasText: 'Not found' }).waitFor();
    expect(await page.content()).not.toContain('other-client');
    await shot(page, '08-other-account-not-found');
    await page.close();
  });

  it('loaded every page without a CSP violation', () => {
    expect(cspViolations).toEqual([]);
  });
});
