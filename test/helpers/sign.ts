import { inspect } from 'node:util';
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

/**
 * Polls `fn` every `step` ms until it returns a truthy value, and returns that value; throws, naming
 * `what`, when `ms` pass without one (a wait never ends quietly with a falsy value). Give a generous
 * bound (a busy 2-core machine): a wait that succeeds returns as soon as the condition holds, so the
 * bound costs nothing; speed is for `npm run bench`.
 */
export async function eventually<T>(fn: () => Promise<T>, ms = 10_000, step = 25, what = 'the awaited condition'): Promise<NonNullable<T>> {
  const started = Date.now();
  for (let polls = 1; ; polls++) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() - started > ms) {
      throw new Error(`eventually: ${what} did not hold within ${ms} ms (${polls} polls; last value: ${inspect(value)})`);
    }
    await new Promise((r) => setTimeout(r, step));
  }
}

export function colonSerial(hex: string): string {
  return hex.toLowerCase().match(/../g)!.join(':');
}
