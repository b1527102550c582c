import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Agent, request as httpRequest, type Server } from 'node:http';
import { loadConfig } from '../../src/config';
import { createHttpServer } from '../../src/http/server';
import { httpLimitsOf } from '../../src/main';
import { startTestService, type TestService } from '../helpers/test-service';

const ENV = { MAX_BODY_BYTES: '4096', MAX_HEADER_BYTES: '8192', MAX_URL_LENGTH: '512', MAX_JSON_DEPTH: '6', REQUEST_TIMEOUT_MS: '800' };

/**
 * Sends raw bytes on one connection and collects everything until the server closes it, or until it
 * has been silent for `idleMs` (generous: then this side gives up, and `closedByServer` is false).
 */
function raw(port: number, chunks: Array<string | Buffer>, opts: { gapMs?: number; idleMs?: number } = {}): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let gaveUp = false;
    const done = () => resolve({ text, closedByServer: !gaveUp });
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.setTimeout(opts.idleMs ?? 15_000, () => {
      gaveUp = true;
      socket.destroy();
    });
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) return;
        socket.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
  });
}

function parse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, ...rest] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

describe('request limits (body, header, URL, JSON depth, time) on a real server', () => {
  let t: TestService;
  let server: Server;
  let port: number;
  let base: string;
  beforeAll(async () => {
    t = await startTestService('pglite', { env: ENV });
    const config = loadConfig({ ...ENV });
    server = createHttpServer(t.service.app, httpLimitsOf(config));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await t.close();
  });

  const expectProblem = async (res: Response, status: number, kind: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = await res.json();
    expect(body).toMatchObject({ type: `urn:mtls-ca:problem:${kind}`, status });
    return body;
  };

  it('refuses a declared body over MAX_BODY_BYTES with 413 before authenticating, and the client always gets the answer', async () => {
    const res = await fetch(`${base}/private-certificates/sign`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'A'.repeat(5000) });
    await expectProblem(res, 413, 'payload-too-large');
    // A client still sending a large body when the 413 comes must still read it (no reset that eats it).
    const agent = new Agent({ keepAlive: true });
    const big = Buffer.alloc(2 * 1024 * 1024, 0x41);
    const exchange = (method: string, path: string, body?: Buffer) =>
      new Promise<{ status: number; connection?: string; reused: boolean }>((resolve, reject) => {
        const headers = body ? { 'Content-Type': 'text/plain', 'Content-Length': body.length } : {};
        const req = httpRequest({ host: '127.0.0.1', port, method, path, agent, headers }, (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode ?? 0, connection: r.headers.connection, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end(body);
      });
    for (let i = 0; i < 10; i++) {
      const refused = await exchange('POST', '/private-certificates/sign', big);
      expect(refused.status).toBe(413);
      // The rest of the body is read and discarded, not reset: the connection lives on.
      expect(refused.connection).not.toBe('close');
      const next = await exchange('GET', '/healthz');
      expect(next).toMatchObject({ status: 200, reused: true });
    }
    agent.destroy();
  });

  it('closes the connection after refusing an absurd declared length, without reading it', async () => {
    const { text, closedByServer } = await raw(port, [`POST /private-certificates/sign HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000000\r\n\r\nAAAA`]);
    const res = parse(text);
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(closedByServer).toBe(true);
  });

  it('refuses a chunked body that grows over MAX_BODY_BYTES with 413', async () => {
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('B'.repeat(1000)));
        c.close();
      },
    });
    const res = await fetch(`${base}/private-certificates/sign`, {
      method: 'POST',
      headers: { ...t.admin, 'Content-Type': 'text/plain' },
      body,
      duplex: 'half',
    } as RequestInit);
    await expectProblem(res, 413, 'payload-too-large');
  });

  it('refuses a URL longer than MAX_URL_LENGTH with 414', async () => {
    const res = await fetch(`${base}/private-certificates?serialNumber=${'a'.repeat(600)}`, { headers: t.admin });
    await expectProblem(res, 414, 'uri-too-long');
  });

  it('refuses headers over MAX_HEADER_BYTES with 431 problem+json', async () => {
    const { text } = await raw(port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(9000)}\r\n\r\n`]);
    const res = parse(text);
    expect(res.status).toBe(431);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.body)).toMatchObject({ type: 'urn:mtls-ca:problem:header-fields-too-large', status: 431 });
  });

  it('answers bytes that are not HTTP with 400 problem+json', async () => {
    const res = parse((await raw(port, ['\x16\x03\x01 not http at all\r\n\r\n'])).text);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).type).toBe('urn:mtls-ca:problem:invalid-request');
  });

  it('refuses JSON nested deeper than MAX_JSON_DEPTH with 400, and invalid UTF-8 with 400', async () => {
    const nested = (n: number): unknown => (n === 0 ? 'role:tenant' : [nested(n - 1)]);
    const deep = await fetch(`${base}/keys`, {
      method: 'POST',
      headers: { ...t.admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ account: 'acme', permissions: nested(6) }),
    });
    expect((await expectProblem(deep, 400, 'invalid-request')).detail).toMatch(/nested deeper than 6/);
    // One level less passes the depth check and meets the schema instead.
    const shallow = await fetch(`${base}/keys`, {
      method: 'POST',
      headers: { ...t.admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ account: 'acme', permissions: nested(5) }),
    });
    expect((await expectProblem(shallow, 400, 'invalid-request')).detail).not.toMatch(/nested/);
    const bad = await fetch(`${base}/keys`, {
      method: 'POST',
      headers: { ...t.admin, 'Content-Type': 'application/json' },
      body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
    });
    expect((await expectProblem(bad, 400, 'invalid-request')).detail).toMatch(/UTF-8/);
  });

  it('answers a client that stops sending its body with 408 within the request time limit', async () => {
    const head = `POST /private-certificates/sign HTTP/1.1\r\nHost: x\r\nX-API-AppKey: ${t.admin['X-API-AppKey']}\r\nX-API-AppToken: ${t.admin['X-API-AppToken']}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n`;
    const { text, closedByServer } = await raw(port, [head, '-----BEGIN CERTIFICATE REQUEST-----\n']);
    const res = parse(text);
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({ type: 'urn:mtls-ca:problem:request-timeout', status: 408 });
    expect(closedByServer).toBe(true);
  });

  it('drops a slowloris client that never finishes its headers with 408', async () => {
    const { text, closedByServer } = await raw(port, ['GET /healthz HTTP/1.1\r\n', 'Host: x\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n', 'X-C: 3\r\n'], { gapMs: 300 });
    expect(parse(text).status).toBe(408);
    expect(closedByServer).toBe(true);
  });

  it('still serves normal requests on the same server', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
