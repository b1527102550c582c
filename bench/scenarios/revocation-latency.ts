import type { Row } from '../lib/report';

/** Revoke → visible on /crl, one at a time, with a large CRL already published. */
export async function revocationLatencyScenario(opts: { url: string; headers: Record<string, string>; csr: string; count: number; crlEntries: number }): Promise<Row> {
  const serials: string[] = [];
  for (let i = 0; i < opts.count; i++) {
    const res = await fetch(`${opts.url}/private-certificates/sign`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Accept: 'application/json', ...opts.headers },
      body: opts.csr,
    });
    serials.push(((await res.json()) as { serialNumber: string }).serialNumber);
  }
  let etag = (await fetch(`${opts.url}/crl`, { method: 'GET' })).headers.get('etag') ?? '';
  const latencies: number[] = [];
  for (const serial of serials) {
    const needle = Buffer.from(serial, 'hex');
    const res = await fetch(`${opts.url}/private-certificates/${serial}?reason=keyCompromise`, { method: 'DELETE', headers: opts.headers });
    if (res.status !== 200) throw new Error(`revoke answered ${res.status}`);
    const acknowledged = performance.now();
    for (;;) {
      const crl = await fetch(`${opts.url}/crl`, { headers: { 'If-None-Match': etag } });
      if (crl.status === 200) {
        etag = crl.headers.get('etag') ?? '';
        const der = Buffer.from(await crl.arrayBuffer());
        if (der.includes(needle)) break;
      } else {
        await crl.arrayBuffer();
      }
      if (performance.now() - acknowledged > 10_000) throw new Error('revocation not visible after 10 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    latencies.push(performance.now() - acknowledged);
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)];
  return {
    scenario: `revoke → on /crl, ${opts.count} revokes one by one, ${opts.crlEntries.toLocaleString('en')} entries already on the CRL`,
    result: `max ${Math.round(latencies[latencies.length - 1])} ms`,
    p50: `${Math.round(pct(50))} ms`,
    p99: `${Math.round(pct(99))} ms`,
    target: 'p99 ≤ 1,000 ms',
    met: pct(99) <= 1000,
    raw: { latencies },
  };
}
