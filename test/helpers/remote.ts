import 'reflect-metadata';
import { X509Crl } from '@peculiar/x509';

/**
 * Talking to a service over real HTTP (fetch), for spawned processes. No test-framework imports, so a
 * soak script can use it too.
 */

export type Headers = Record<string, string>;

export function keyHeaders(key: { appKey: string; appToken: string }): Headers {
  return { 'X-API-AppKey': key.appKey, 'X-API-AppToken': key.appToken };
}

/** An API key made through POST /keys; returns its headers. */
export async function createRemoteKey(url: string, admin: Headers, account: string, permissions: string[]): Promise<Headers> {
  const res = await fetch(`${url}/keys`, {
    method: 'POST',
    headers: { ...admin, 'Content-Type': 'application/json' },
    body: JSON.stringify({ account, permissions }),
  });
  if (res.status !== 201) throw new Error(`POST /keys: ${res.status} ${await res.text()}`);
  return keyHeaders((await res.json()) as { appKey: string; appToken: string });
}

export interface SignAnswer {
  readonly status: number;
  readonly contentType: string;
  /** The serial number, when a certificate came back. */
  readonly serialNumber?: string;
  readonly certificate?: string;
  readonly text: string;
}

/** POST /private-certificates/sign with a PEM CSR, asking for JSON. */
export async function signRemote(url: string, headers: Headers, csr: Buffer | string, signal?: AbortSignal): Promise<SignAnswer> {
  const res = await fetch(`${url}/private-certificates/sign`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'text/plain', Accept: 'application/json' },
    body: typeof csr === 'string' ? csr : new Uint8Array(csr),
    signal,
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  if (res.status === 200) {
    const body = JSON.parse(text) as { serialNumber: string; certificate: string };
    return { status: 200, contentType, serialNumber: body.serialNumber, certificate: body.certificate, text };
  }
  return { status: res.status, contentType, text };
}

/** DELETE /private-certificates/{serial}. */
export async function revokeRemote(url: string, headers: Headers, serialNumber: string, reason = 'keyCompromise'): Promise<{ status: number; contentType: string; text: string }> {
  const res = await fetch(`${url}/private-certificates/${serialNumber}?reason=${reason}`, { method: 'DELETE', headers });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

export interface RemoteCrl {
  readonly der: Buffer;
  readonly number: bigint;
  readonly serials: string[];
}

/** The CRL number (extension 2.5.29.20) and entries of a DER CRL. */
export function readCrl(der: Buffer): RemoteCrl {
  const crl = new X509Crl(new Uint8Array(der));
  const ext = crl.getExtension('2.5.29.20');
  if (!ext) throw new Error('the CRL has no CRL number');
  const number = BigInt(`0x${Buffer.from(ext.value).subarray(2).toString('hex')}`);
  return { der, number, serials: crl.entries.map((e) => e.serialNumber.toUpperCase()) };
}

/** GET /crl, parsed. */
export async function fetchRemoteCrl(url: string): Promise<RemoteCrl> {
  const res = await fetch(`${url}/crl`);
  if (res.status !== 200) throw new Error(`GET /crl: ${res.status}`);
  return readCrl(Buffer.from(await res.arrayBuffer()));
}

/** Resolves with the time `fn` took, and its value. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await fn();
  return { ms: Date.now() - started, value };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
