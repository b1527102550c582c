import { makeCsr } from '../helpers/openssl';
import { capturedLogger } from '../helpers/log-capture';
import { startTestService, type TestService } from '../helpers/test-service';

/** Headers that differ between any two answers (Location and Content-Length follow the serial and the signature). */
const varying = new Set(['date', 'x-request-id', 'location', 'content-length']);
const stable = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).filter(([k]) => !varying.has(k)));

/**
 * POST /private-certificates/sign is answered from node:http (src/http/lean-sign.ts) when the request is
 * a common one; an Accept header it does not know sends it through the Express chain instead. Both must
 * give the same statuses, headers, problem documents, audit records, metrics and log lines.
 */
describe('the lean signing path answers exactly as the Express chain does', () => {
  let t: TestService;
  let lines: Array<Record<string, unknown>>;
  let csr: string;
  let otherAccountCsr: string;
  let signer: Record<string, string>;
  let reader: Record<string, string>;
  beforeAll(async () => {
    const captured = capturedLogger();
    lines = captured.lines;
    t = await startTestService('pglite', { logger: captured.logger });
    signer = (await t.createKey('acme', ['certificates:sign'])).headers;
    reader = (await t.createKey('acme', ['certificates:read'])).headers;
    csr = (await makeCsr(t.dataDir, 'lean', '/CN=lean-path/OU=acme/C=BR')).csr.toString();
    otherAccountCsr = (await makeCsr(t.dataDir, 'lean-other', '/CN=lean-path/OU=globex/C=BR')).csr.toString();
  });
  afterAll(() => t.close());

  /** The same request twice: `accept` as the lean path takes it, and a spelling only the chain negotiates. */
  async function both(headers: Record<string, string>, body: string, accept: string) {
    const send = (a: string, id: string) =>
      t.http.post('/private-certificates/sign').set({ 'Content-Type': 'text/plain', ...headers, Accept: a, 'X-Request-Id': id }).send(body);
    const id = Math.random().toString(36).slice(2);
    return [await send(accept, `lean-${id}`), await send(`${accept}, image/png;q=0.1`, `chain-${id}`)] as const;
  }

  it('signs with the same headers, PEM or JSON', async () => {
    for (const accept of ['text/plain', 'application/x-pem-file', 'application/json']) {
      const [lean, chain] = await both(signer, csr, accept);
      expect(lean.status).toBe(200);
      expect(chain.status).toBe(200);
      expect(stable(lean.headers)).toEqual(stable(chain.headers));
      expect(lean.headers.location).toMatch(/^\/private-certificates\/[0-9A-F]{32}$/);
      expect(lean.headers['cache-control']).toBe('no-store');
      if (accept === 'application/json') expect(Object.keys(lean.body)).toEqual(Object.keys(chain.body));
      else expect(lean.text).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    }
  });

  it('refuses alike: wrong token, missing permission, other account, bad CSR, wrong media type', async () => {
    const cases: Array<[string, Record<string, string>, string, number]> = [
      ['wrong token', { ...signer, 'X-API-AppToken': 'not-the-token-0000000000000000000000' }, csr, 401],
      ['no permission', reader, csr, 403],
      ['other account', signer, otherAccountCsr, 403],
      ['not a CSR', signer, 'hello', 400],
      ['wrong media type', { ...signer, 'Content-Type': 'image/png' }, csr, 415],
      ['wrong charset', { ...signer, 'Content-Type': 'text/plain; charset=utf-16' }, csr, 415],
    ];
    for (const [what, headers, body, status] of cases) {
      const before = (await t.http.get('/audit').query({ outcome: 'failure', limit: 100 }).set(t.admin)).body.items.length;
      const [lean, chain] = await both(headers, body, 'text/plain');
      expect([what, lean.status]).toEqual([what, status]);
      expect([what, chain.status]).toEqual([what, status]);
      expect([what, stable(lean.headers)]).toEqual([what, stable(chain.headers)]);
      expect([what, lean.body]).toEqual([what, chain.body]);
      expect(lean.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      // Each refusal is audited once, with the same fields either way.
      const records = async () => (await t.http.get('/audit').query({ outcome: 'failure', limit: 100 }).set(t.admin)).body.items as Array<Record<string, unknown>>;
      let items = await records();
      for (let i = 0; i < 400 && items.length < before + 2; i++) {
        await new Promise((r) => setTimeout(r, 25));
        items = await records();
      }
      const pick = ({ action, problem, actor, account, outcome }: Record<string, unknown>) => ({ action, problem, actor, account, outcome });
      const mine = (prefix: string) => items.find((r) => r.requestId === lean.headers['x-request-id'].replace(/^lean-/, prefix));
      const [leanRecord, chainRecord] = [mine('lean-'), mine('chain-')];
      expect([what, Boolean(leanRecord), Boolean(chainRecord)]).toEqual([what, true, true]);
      expect([what, pick(leanRecord!)]).toEqual([what, pick(chainRecord!)]);
      expect(leanRecord!.action).toBe(status === 401 ? 'auth.failure' : 'certificate.sign');
    }
  });

  it('logs the access line and counts the answer under the route', async () => {
    const res = await t.http.post('/private-certificates/sign').set({ 'Content-Type': 'text/plain', ...signer, 'X-Request-Id': 'lean-log-1' }).send(csr);
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('lean-log-1');
    const line = lines.find((l) => l.requestId === 'lean-log-1' && l.msg === 'request');
    expect(line).toMatchObject({ method: 'POST', path: '/private-certificates/sign', status: 200 });
    expect(typeof line?.ip).toBe('string');
    const metrics = (await t.http.get('/metrics').set(t.admin)).text;
    expect(metrics).toMatch(/route="\/private-certificates\/sign",status="200"/);
  });

  it('hands what it does not take whole to the chain, unread: no body, a body over the limit, no key', async () => {
    const empty = await t.http.post('/private-certificates/sign').set({ 'Content-Type': 'text/plain', ...signer }).send('');
    expect(empty.status).toBe(400);
    expect(empty.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const big = await t.http.post('/private-certificates/sign').set({ 'Content-Type': 'text/plain', ...signer }).send('x'.repeat(70 * 1024));
    expect(big.status).toBe(413);
    const noKey = await t.http.post('/private-certificates/sign').set({ 'Content-Type': 'text/plain' }).send(csr);
    expect(noKey.status).toBe(401);
  });
});
