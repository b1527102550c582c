import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
  X509CrlGenerator,
  type JsonNameParams,
  type X509Certificate,
} from '@peculiar/x509';
import express from 'express';
import pino, { type Logger } from 'pino';
import { bigInteger } from '../../src/domain/der';
import { encodePem } from '../../src/domain/pem';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway';

const run = promisify(execFile);
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** curl as a user runs it; returns the HTTP status (0 when the connection failed) and the body. */
export async function curl(args: string[], cwd: string): Promise<{ status: number; body: string }> {
  try {
    const { stdout } = await run('curl', ['-s', '-o', '-', '-w', '\n%{http_code}', ...args], { cwd });
    const at = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
  } catch (e) {
    return { status: 0, body: String((e as Error).message) };
  }
}

export interface ClientCertificate {
  readonly certPath: string;
  readonly keyPath: string;
  readonly serialNumber: string;
}

/**
 * A CA made in-process for gateway tests: it issues client certificates with any subject (also ones
 * mtls-ca's CSR policy would refuse), the gateway's server certificate, and CRLs with any number and
 * validity, so trust and revocation cases are set up in milliseconds.
 */
export class FakeCa {
  private serial = 0x1000;

  private constructor(
    readonly dir: string,
    readonly cert: X509Certificate,
    private readonly keys: CryptoKeyPair,
    readonly pemPath: string,
  ) {}

  static async create(dir: string, name = 'fake-ca', subject = `CN=${name} Root`): Promise<FakeCa> {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: subject,
      keys,
      signingAlgorithm: SIGN,
      notBefore: new Date(Date.now() - 60_000),
      extensions: [new BasicConstraintsExtension(true, undefined, true), new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true)],
    });
    const pemPath = path.join(dir, `${name}.pem`);
    await fs.writeFile(pemPath, cert.toString('pem'));
    return new FakeCa(dir, cert, keys, pemPath);
  }

  /** A CA certificate (an intermediate) issued by this one. */
  async issueCa(name: string): Promise<FakeCa> {
    const { cert, keys } = await this.sign(`CN=${name}`, [new BasicConstraintsExtension(true, 0, true), new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true)]);
    const pemPath = path.join(this.dir, `${name}.pem`);
    await fs.writeFile(pemPath, cert.toString('pem'));
    return new FakeCa(this.dir, cert, keys, pemPath);
  }

  get pem(): string {
    return this.cert.toString('pem');
  }

  /** A client certificate (clientAuth) for `subject` (string values become PrintableString or UTF8String). */
  issueClient(subject: JsonNameParams | string, file = `${path.basename(this.pemPath, '.pem')}-client-${this.serial + 1}`): Promise<ClientCertificate> {
    return this.issue(subject, file, [new ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.2'])]);
  }

  /** The gateway's own server certificate for 127.0.0.1. */
  issueServer(file = `${path.basename(this.pemPath, '.pem')}-server`): Promise<ClientCertificate> {
    return this.issue('CN=127.0.0.1', file, [new ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1']), new SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])]);
  }

  /** A CRL with this number, revoking these serials, valid for `validMs` from now. */
  async crl(number: number, revoked: string[] = [], validMs = 3600_000): Promise<string> {
    const crl = await X509CrlGenerator.create({
      issuer: this.cert.subject,
      thisUpdate: new Date(Date.now() - 1000),
      nextUpdate: new Date(Date.now() + validMs),
      entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: new Date() })),
      signingAlgorithm: SIGN,
      signingKey: this.keys.privateKey,
      extensions: [new Extension('2.5.29.20', false, new Uint8Array(bigInteger(BigInt(number))))],
    });
    return encodePem('X509 CRL', new Uint8Array(crl.rawData));
  }

  private async issue(subject: JsonNameParams | string, file: string, extensions: Extension[]): Promise<ClientCertificate> {
    const { cert, keys } = await this.sign(subject, [new BasicConstraintsExtension(false), new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true), ...extensions]);
    const certPath = path.join(this.dir, `${file}.crt`);
    const keyPath = path.join(this.dir, `${file}.key`);
    await fs.writeFile(certPath, cert.toString('pem'));
    await fs.writeFile(keyPath, encodePem('PRIVATE KEY', new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))));
    return { certPath, keyPath, serialNumber: cert.serialNumber.toUpperCase() };
  }

  /** A fresh P-256 key and a one-day certificate for it, signed by this CA. */
  private async sign(subject: JsonNameParams | string, extensions: Extension[]): Promise<{ cert: X509Certificate; keys: CryptoKeyPair }> {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await X509CertificateGenerator.create({
      serialNumber: (++this.serial).toString(16).toUpperCase().padStart(4, '0'),
      subject: typeof subject === 'string' ? subject : new Name(subject),
      issuer: this.cert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: SIGN,
      extensions,
    });
    return { cert, keys };
  }
}

/** mtls-ca's two public documents, served by a server the test controls. */
export interface FakeCaServer {
  readonly url: string;
  caPem: string;
  crlPem: string;
  close(): Promise<void>;
}

export async function serveFakeCa(ca: FakeCa, crlPem: string, host = '127.0.0.1'): Promise<FakeCaServer> {
  const state = { caPem: ca.pem, crlPem };
  const server = http.createServer((req, res) => {
    if (req.url === '/ca.pem') return void res.end(state.caPem);
    if (req.url === '/crl.pem') return void res.end(state.crlPem);
    res.writeHead(404).end();
  });
  server.listen(0, host);
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  });
}

/** A logger that keeps what it writes, to assert on warnings. */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) }) };
}

export async function startTestGateway(env: Record<string, string>, logger: Logger = pino({ level: process.env.MTLS_CA_TEST_LOG ?? 'silent' })): Promise<RunningGateway> {
  return startGateway(loadGatewayConfig({ GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_CRL_REFRESH_SECONDS: '1', GATEWAY_UPSTREAM_TIMEOUT_MS: '5000', ...env }), logger);
}

export interface RecordingUpstream {
  readonly url: string;
  /** Every request the upstream received: its path and what it made of the headers. */
  readonly seen: Array<{ path: string; headers: Record<string, string> }>;
  close(): Promise<void>;
}

async function listen(server: http.Server, seen: RecordingUpstream['seen']): Promise<RecordingUpstream> {
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Express with its defaults (case-insensitive routing), a /globex/secret route and an echo for the rest. */
export function startExpressUpstream(): Promise<RecordingUpstream> {
  const seen: RecordingUpstream['seen'] = [];
  const app = express();
  app.use((req, _res, next) => {
    seen.push({ path: req.originalUrl, headers: req.headers as Record<string, string> });
    next();
  });
  app.get('/globex/secret', (_req, res) => void res.json({ secret: 'globex' }));
  app.use((req, res) => void res.json({ path: req.originalUrl, account: req.headers['x-client-account'] ?? null }));
  return listen(http.createServer(app), seen);
}

/**
 * An upstream that reads headers the way CGI, WSGI and FastCGI do: `HTTP_` + the name upper-cased
 * with `-` turned into `_` (`punctuation: 'any'`: every character but a letter or digit, as lighttpd
 * does), repeated names joined with ','. It answers with that environment.
 */
export function startCgiUpstream(punctuation: 'dash' | 'any' = 'dash'): Promise<RecordingUpstream> {
  const seen: RecordingUpstream['seen'] = [];
  const separators = punctuation === 'any' ? /[^A-Z0-9]/g : /-/g;
  const server = http.createServer((req, res) => {
    const env: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = `HTTP_${req.rawHeaders[i].toUpperCase().replace(separators, '_')}`;
      env[name] = env[name] === undefined ? req.rawHeaders[i + 1] : `${env[name]},${req.rawHeaders[i + 1]}`;
    }
    seen.push({ path: req.url ?? '', headers: env });
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => res.end(JSON.stringify({ path: req.url, env, body })));
  });
  return listen(server, seen);
}

/** Sends raw bytes over mTLS to the gateway and returns everything it answers until it closes (or `ms`). */
export async function rawExchange(gatewayUrl: string, client: ClientCertificate, caPemPath: string, bytes: string, ms = 5000): Promise<string> {
  const { port } = new URL(gatewayUrl);
  const [cert, key, ca] = await Promise.all([fs.readFile(client.certPath), fs.readFile(client.keyPath), fs.readFile(caPemPath)]);
  return new Promise((resolve) => {
    let got = '';
    const socket = tls.connect({ host: '127.0.0.1', port: Number(port), cert, key, ca }, () => socket.write(bytes));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('error', done);
    socket.on('close', done);
  });
}
