import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CaError, type ErrorKind } from '../domain/errors';
import { packagePath } from '../package-dir';
import { decodePkcs12, type Pkcs12Certificate, type Pkcs12Contents, type Pkcs12Key } from './pkcs12-decoder';

/** Files decoded at once per process (in a worker thread): one core at most, whoever uploads; others wait their turn. */
const MAX_CONCURRENT = 1;
/** A decode that takes longer (a busy machine; the work budget keeps real files far below) is stopped. */
const DECODE_TIMEOUT_MS = 30_000;

type Posted =
  | { ok: Omit<Pkcs12Contents, 'keys' | 'certificates'> & { keys: Omit<Pkcs12Key, 'privateKey'>[]; certificates: Omit<Pkcs12Certificate, 'certificate'>[] } }
  | { refusal: { kind: ErrorKind; detail: string; extensions: Record<string, unknown> } }
  | { failure: string };

let running = 0;
const waiting: Array<() => void> = [];

/**
 * The compiled worker: next to this file in dist/, or the package's dist/ when running from src/ (tests
 * build it first), looked up once; null when there is none (then the file is decoded on this thread).
 */
let workerPath: string | null | undefined;
function workerScript(): string | null {
  if (workerPath === undefined) {
    const sibling = path.join(__dirname, 'pkcs12-decode-worker.js');
    workerPath = existsSync(sibling) ? sibling : packagePath(path.join('dist', 'pkcs12', 'pkcs12-decode-worker.js'));
  }
  return workerPath;
}

/**
 * decodePkcs12 in a worker thread: its key derivations are synchronous and may cost a second or more for
 * a file with high iteration counts (within the decoder's work budget), which on the main thread would
 * hold every other request of the service. Same results and the same 422 `invalid-pkcs12` refusals.
 */
export async function decodePkcs12OffThread(der: Uint8Array, password: string): Promise<Pkcs12Contents> {
  const script = workerScript();
  if (!script) return decodePkcs12(der, password);
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return fromPosted(await runWorker(script, der, password));
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function runWorker(script: string, der: Uint8Array, password: string): Promise<Posted> {
  return new Promise<Posted>((resolve, reject) => {
    const worker = new Worker(script, { workerData: { der, password }, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(
      () => settle(() => reject(new CaError('invalid-pkcs12', 'decoding the PKCS#12 file took too long', { extensions: { reason: 'too-much-work' } }))),
      DECODE_TIMEOUT_MS,
    );
    worker.once('message', (message: Posted) => settle(() => resolve(message)));
    worker.once('error', (err) => settle(() => reject(new CaError('invalid-pkcs12', 'the PKCS#12 file cannot be read', { cause: err, extensions: { reason: 'malformed' } }))));
    worker.once('exit', (code) => settle(() => reject(new Error(`the PKCS#12 decoding worker exited with code ${code}`))));
  });
}

function fromPosted(posted: Posted): Pkcs12Contents {
  if ('refusal' in posted) throw new CaError(posted.refusal.kind, posted.refusal.detail, { extensions: posted.refusal.extensions });
  if ('failure' in posted) throw new Error(`decoding the PKCS#12 file failed: ${posted.failure}`);
  const { ok } = posted;
  return {
    ...ok,
    keys: ok.keys.map((k) => {
      const pkcs8 = Buffer.from(k.pkcs8);
      return { ...k, pkcs8, privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) };
    }),
    certificates: ok.certificates.map((c) => {
      const der = Buffer.from(c.der);
      return { ...c, der, certificate: new X509Certificate(der) };
    }),
  };
}
