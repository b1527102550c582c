import { children, readTlv } from '../../src/domain/der';
import { cpuDuring, perOp } from '../lib/cpu';
import { load } from '../lib/load';
import type { Row } from '../lib/report';

/** Cached /crl: full responses and 304s. */
export async function crlServingScenario(opts: {
  url: string;
  entries: number;
  seconds: number;
  peakRssMb: () => number;
  pids: () => number[];
  rawLimit: (bytes: number) => Promise<number>;
}): Promise<Row[]> {
  const head = await fetch(`${opts.url}/crl`);
  const etag = head.headers.get('etag') ?? '';
  const size = (await head.arrayBuffer()).byteLength;
  const full = await load({ url: `${opts.url}/crl`, connections: 16, seconds: opts.seconds });
  const raw = await opts.rawLimit(size);
  const { result: notModified, nodeSeconds } = await cpuDuring(opts.pids, null, () =>
    load({ url: `${opts.url}/crl`, headers: { 'If-None-Match': etag }, connections: 32, seconds: opts.seconds, expectStatus: 304 }),
  );
  return [
    {
      scenario: `GET /crl, ${opts.entries.toLocaleString('en')} entries (${(size / 1e6).toFixed(1)} MB), full responses, 16 clients`,
      result: `${Math.round(full.rate)} responses/s (${((full.rate * size) / 1e9).toFixed(2)} GB/s)`,
      p50: `${full.p50} ms`,
      p99: `${full.p99} ms`,
      peakRssMb: opts.peakRssMb(),
      target: '≥ 2,000/s',
      met: full.rate >= 2000,
      ratio: `${(full.rate / raw).toFixed(2)}× a bare node:http server sending the same bytes (${Math.round(raw)}/s, one process)`,
      raw: { ...full, size, rawLimit: raw },
    },
    {
      scenario: 'GET /crl with If-None-Match → 304, 32 clients',
      result: `${Math.round(notModified.rate)} responses/s`,
      p50: `${notModified.p50} ms`,
      p99: `${notModified.p99} ms`,
      nodeCpu: perOp(nodeSeconds, notModified.rate * opts.seconds),
      target: '≥ 15,000/s',
      met: notModified.rate >= 15000,
      raw: { ...notModified },
    },
  ];
}

/** GET /private-certificates: the first page and a page ~90% deep, with a million rows in the ledger. */
export async function listingScenario(opts: { url: string; headers: Record<string, string>; deepCursor: string; rows: number; seconds: number }): Promise<Row[]> {
  const out: Row[] = [];
  for (const [name, query] of [
    ['first page', '?limit=100'],
    ['deep page (~90% in, by cursor)', `?limit=100&cursor=${opts.deepCursor}`],
    ['one account, first page', '?limit=100&account=acct7'],
  ] as const) {
    const r = await load({ url: `${opts.url}/private-certificates${query}`, headers: opts.headers, connections: 4, seconds: opts.seconds });
    out.push({
      scenario: `GET /private-certificates ${name}, ${opts.rows.toLocaleString('en')} rows`,
      result: `${Math.round(r.rate)} pages/s (${r.non2xx} non-2xx)`,
      p50: `${r.p50} ms`,
      p99: `${r.p99} ms`,
      target: '≤ 20 ms',
      met: r.p99 <= 20 && r.non2xx === 0,
      raw: { ...r },
    });
  }
  return out;
}

/** The same bytes from a bare node:http server: what one Node process can push through loopback. */
export async function rawServingLimit(bytes: number, port: number, seconds: number): Promise<number> {
  const http = await import('node:http');
  const buf = Buffer.alloc(bytes, 7);
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/pkix-crl', 'Content-Length': buf.length });
    res.end(buf);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  try {
    return (await load({ url: `http://127.0.0.1:${port}/`, connections: 16, seconds })).rate;
  } finally {
    server.close();
  }
}

/** Cached OCSP answers over GET (no nonce): the same request again and again. */
export async function ocspServingScenario(opts: { url: string; requestDer: Buffer; seconds: number; pids: () => number[] }): Promise<Row> {
  const path = `/ocsp/${encodeURIComponent(opts.requestDer.toString('base64'))}`;
  const first = await fetch(`${opts.url}${path}`);
  const der = Buffer.from(await first.arrayBuffer());
  const [statusTlv] = children(der, readTlv(der, 0));
  const status = der[statusTlv.contentStart]; // OCSPResponseStatus
  const { result: r, nodeSeconds } = await cpuDuring(opts.pids, null, () => load({ url: `${opts.url}${path}`, connections: 32, seconds: opts.seconds }));
  return {
    scenario: 'OCSP GET, cached answer (no nonce), 32 clients',
    result: `${Math.round(r.rate)} responses/s (OCSP status ${status === 0 ? 'successful' : status})`,
    p50: `${r.p50} ms`,
    p99: `${r.p99} ms`,
    nodeCpu: perOp(nodeSeconds, r.rate * opts.seconds),
    target: '≥ 15,000/s',
    met: r.rate >= 15000 && status === 0,
    raw: { ...r },
  };
}
