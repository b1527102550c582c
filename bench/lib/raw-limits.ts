import { Worker } from 'node:worker_threads';

/** Raw ECDSA P-256 signatures per second with node:crypto, on `threads` cores, for `ms`. */
export async function rawSignRate(threads: number, ms = 1500): Promise<number> {
  const code = `
    const { generateKeyPairSync, sign } = require('node:crypto');
    const { parentPort, workerData } = require('node:worker_threads');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.alloc(600, 7);
    const until = Date.now() + workerData.ms;
    let n = 0;
    while (Date.now() < until) { for (let i = 0; i < 100; i++) sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }); n += 100; }
    parentPort.postMessage(n);`;
  const counts = await Promise.all(
    Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { ms } });
      w.once('message', resolve);
      w.once('error', reject);
    })),
  );
  return counts.reduce((a, b) => a + b, 0) / (ms / 1000);
}
