import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { recordFailedRequests } from '../../src/http/audit';
import { directChain } from '../../src/http/direct-chain';
import { expressClientIp } from '../../src/http/hot-routes';
import { leanSign } from '../../src/http/lean-sign';
import { problemHandler } from '../../src/http/problem';
import { requestContext } from '../../src/http/request-context';
import { requestLimits } from '../../src/http/request-limits';
import { signHandlers } from '../../src/http/routes/sign';
import type { AuditEvent } from '../../src/domain/audit-event';
import type { Principal } from '../../src/domain/permissions';
import type { AuditTrail } from '../../src/services/audit-trail';
import type { KeyService } from '../../src/services/key-service';
import type { SigningService } from '../../src/services/signing-service';

/**
 * The request deadline against the lean signing path and the chain it falls back to, with services
 * whose timing the test sets (a key lookup or a ledger slower than the deadline). Timers fire in the
 * order they expire, so "slower than the deadline" holds however busy the machine is.
 */
describe('signing past the request deadline', () => {
  const DEADLINE_MS = 100;
  const SLOW_MS = 300;
  let lines: Array<Record<string, unknown>>;
  let signed: string[];
  let authDelay: number;
  let signFailure: Error | null;
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const app = express();
    const principal: Principal = { appKey: 'k', account: 'acme', permissions: new Set(['certificates:sign']) };
    const keys = {
      authenticate: async () => {
        await new Promise((r) => setTimeout(r, authDelay));
        return principal;
      },
      accountOf: async () => 'acme',
    } as unknown as KeyService;
    const signing = {
      sign: async (_p: Principal, _b: Uint8Array, origin: { requestId: string | null }) => {
        signed.push(origin.requestId ?? '');
        await new Promise((r) => setTimeout(r, SLOW_MS));
        if (signFailure) throw signFailure;
        return { serialNumber: 'AA', pem: 'x', subject: '', account: 'acme', commonName: '', notBefore: new Date(), notAfter: new Date() };
      },
    } as unknown as SigningService;
    const audit = { recordInBackground: (e: Promise<AuditEvent | null>) => void e } as unknown as AuditTrail;
    const limits = { maxBodyBytes: 65536, maxUrlLength: 2048, maxJsonDepth: 32, requestTimeoutMs: DEADLINE_MS };
    const problems = problemHandler(logger);
    const chain = directChain(app, [requestContext(logger), requestLimits(limits), recordFailedRequests({ audit, keys }), ...signHandlers({ keys, signing, chainPem: () => '' })], problems);
    const lean = leanSign({ app, keys, signing, audit, chainPem: () => '', logger, limits, clientIp: expressClientIp(app), problems }, '/private-certificates/sign', chain);
    server = http.createServer(lean);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  beforeEach(() => {
    lines = [];
    signed = [];
    authDelay = 0;
    signFailure = null;
  });

  const send = async (id: string, accept?: string) => {
    const res = await fetch(`${base}/private-certificates/sign`, {
      method: 'POST',
      body: 'x'.repeat(10),
      headers: { 'X-API-AppKey': 'k', 'X-API-AppToken': 't', 'Content-Type': 'text/plain', 'X-Request-Id': id, ...(accept ? { Accept: accept } : {}) },
    });
    await res.text();
    return res.status;
  };
  const settled = () => new Promise((r) => setTimeout(r, SLOW_MS + 200));

  it('issues nothing once the deadline has answered while authentication was slow, on either path', async () => {
    authDelay = SLOW_MS;
    expect(await send('lean')).toBe(503);
    expect(await send('chain', 'text/plain, image/png;q=0.1')).toBe(503);
    await settled();
    expect(signed).toEqual([]);
  });

  it('still logs a failure that comes after the deadline answered, on either path', async () => {
    signFailure = new Error('the ledger write failed');
    expect(await send('lean')).toBe(503);
    expect(await send('chain', 'text/plain, image/png;q=0.1')).toBe(503);
    await settled();
    expect(signed).toEqual(['lean', 'chain']);
    for (const id of ['lean', 'chain']) {
      expect(lines.filter((l) => l.requestId === id && l.msg === 'request failed')).toHaveLength(1);
    }
  });

  it('logs a request whose client left mid-body', async () => {
    await new Promise<void>((resolve) => {
      const req = http.request(`${base}/private-certificates/sign`, {
        method: 'POST',
        headers: { 'X-API-AppKey': 'k', 'X-API-AppToken': 't', 'Content-Type': 'text/plain', 'Content-Length': '100', 'X-Request-Id': 'gone' },
      });
      req.on('error', () => resolve());
      req.write('x'.repeat(10), () => setTimeout(() => req.destroy(), 50));
      setTimeout(resolve, 500);
    });
    await settled();
    expect(lines.find((l) => l.requestId === 'gone' && l.msg === 'request rejected')).toMatchObject({ kind: 'invalid-request' });
    expect(signed).toEqual([]);
  });
});
