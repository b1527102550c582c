import type { TestService } from './test-service';
import { makeCsr } from './openssl';

/** Issues a certificate through the API for a fresh openssl key; returns serial, PEM and key path. */
export async function issue(
  t: TestService,
  headers: Record<string, string>,
  subject = '/CN=erp-connector/OU=acme/C=BR',
  name = `c${Math.random().toString(36).slice(2)}`,
): Promise<{ serialNumber: string; pem: string; keyPath: string; certPath: string }> {
  const { csr, keyPath } = await makeCsr(t.dataDir, name, subject);
  const res = await t.http.post('/private-certificates/sign').set(headers).set('Content-Type', 'text/plain').set('Accept', 'application/json').send(csr);
  if (res.status !== 200) throw new Error(`sign failed: ${res.status} ${res.text}`);
  const certPath = keyPath.replace(/\.key$/, '.crt');
  await (await import('node:fs')).promises.writeFile(certPath, res.body.certificate);
  return { serialNumber: res.body.serialNumber, pem: res.body.certificate, keyPath, certPath };
}

/** Polls until `fn` returns a truthy value or `ms` pass. */
export async function eventually<T>(fn: () => Promise<T>, ms = 2000, step = 25): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, step));
  }
}

export function colonSerial(hex: string): string {
  return hex.toLowerCase().match(/../g)!.join(':');
}
