import 'reflect-metadata';
import { webcrypto, generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import * as x509 from '@peculiar/x509';

export type KeyType = 'ec-p256' | 'rsa-2048';

/** A CLI failure: its message is printed, without a stack trace, and the process exits non-zero. */
export class CliError extends Error {}

/** Generates a private key locally (PKCS#8 PEM); it never leaves this machine. */
export function generateKeyPem(type: KeyType): string {
  const pair = type === 'rsa-2048'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Builds a PEM PKCS#10 CSR for CN/OU, signed with the given private key. */
export async function buildCsrPem(keyPem: string, cn: string, ou: string | undefined): Promise<string> {
  const key = createPrivateKey(keyPem);
  const pub = key.asymmetricKeyType;
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const spki = (await import('node:crypto')).createPublicKey(key).export({ type: 'spki', format: 'der' });
  const alg = pub === 'ec'
    ? { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const importAlg = pub === 'ec' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, importAlg, true, ['verify']);
  const name = [`CN=${escapeRdn(cn)}`, ...(ou ? [`OU=${escapeRdn(ou)}`] : [])].join(', ');
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys: { privateKey, publicKey },
    signingAlgorithm: alg,
  }, webcrypto as unknown as Crypto);
  return csr.toString('pem');
}

function escapeRdn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}

export interface HttpAnswer { status: number; body: string; }

/** One HTTP(S) request; TLS client credentials and a CA bundle when given. */
export function send(url: string, options: {
  method: string; headers: Record<string, string>; body?: string;
  tls?: { cert: string; key: string; ca?: string };
  timeoutMs?: number;
}): Promise<HttpAnswer> {
  let target: URL;
  try { target = new URL(url); } catch { throw new CliError(`not a URL: ${url}`); }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new CliError(`the URL must be http(s): ${url}`);
  const fn = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = fn(target, {
      method: options.method,
      headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body ?? '')) },
      ...(options.tls ? { cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca } : {}) } : {}),
      timeout: options.timeoutMs ?? 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(new CliError(`reading the answer of ${target.origin}: ${e.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new CliError(`cannot reach ${target.origin}: ${e.message}`)));
    req.end(options.body ?? '');
  });
}

export interface Issued { serialNumber: string; certificate: string; chain: string; notBefore: string; notAfter: string; }

/** Reads a JSON issuance answer, or turns a problem+json into a clear CliError. */
export function issuedFrom(answer: HttpAnswer, what: string): Issued {
  if (answer.status >= 200 && answer.status < 300) {
    try {
      const json = JSON.parse(answer.body) as Issued;
      if (typeof json.certificate === 'string') return json;
    } catch { /* fall through */ }
    throw new CliError(`${what}: the server's answer is not an issued certificate`);
  }
  let detail = answer.body.slice(0, 300);
  try {
    const problem = JSON.parse(answer.body) as { title?: string; detail?: string };
    detail = [problem.title, problem.detail].filter(Boolean).join(': ');
  } catch { /* not JSON */ }
  throw new CliError(`${what} refused (HTTP ${answer.status}): ${detail}`);
}
