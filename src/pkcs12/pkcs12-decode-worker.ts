import { parentPort, workerData } from 'node:worker_threads';
import { CaError } from '../domain/errors';
import { decodePkcs12 } from './pkcs12-decoder';

/**
 * Worker-thread entry of decodePkcs12OffThread: decodes one file with its password and posts the result
 * (keys as PKCS#8 DER, certificates as DER: KeyObject and X509Certificate do not cross threads), or the
 * refusal as plain data. The synchronous key derivations run here, never on the service's event loop.
 */
const { der, password } = workerData as { der: Uint8Array; password: string };
try {
  const contents = decodePkcs12(der, password);
  parentPort!.postMessage({
    ok: {
      mac: contents.mac,
      safes: contents.safes,
      otherBags: contents.otherBags,
      keys: contents.keys.map(({ privateKey: _key, ...rest }) => rest),
      certificates: contents.certificates.map(({ certificate: _cert, ...rest }) => rest),
    },
  });
} catch (e) {
  if (e instanceof CaError) parentPort!.postMessage({ refusal: { kind: e.kind, detail: e.detail, extensions: e.extensions } });
  else parentPort!.postMessage({ failure: e instanceof Error ? e.message : String(e) });
}
