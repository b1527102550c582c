import fc from 'fast-check';
import { Agent, type Server } from 'node:http';
import { loadConfig } from '../../src/config';
import { createHttpServer } from '../../src/http/server';
import { httpLimitsOf } from '../../src/main';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { backends } from '../helpers/backends';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';
import { ocspStatusOf } from '../fuzz/check-answer';
import { badRequests, checkAnswer, ENDPOINTS, sendRequest, type Answer, type BadRequest, type Endpoint, type Target } from '../fuzz/bad-requests';

/**
 * Property-based bad-input suite: seeded random bad requests at every endpoint of the real service
 * (real CA, real ledger), sent over node:http with their paths untouched. Every answer must be a 4xx
 * problem+json (OCSP: an unsuccessful OCSP answer); afterwards the ledger holds no new row, the
 * service still answers and the heap has not grown without bound.
 *
 * FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> sets the cases per endpoint, FUZZ_SHRINK=1 shrinks a
 * failure to a minimal case (slow). The soak run sends the same generators to live servers.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_123);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const SHRINK = process.env.FUZZ_SHRINK === '1';
/** Per endpoint: generous, so FUZZ_RUNS=10000 or a shrinking run is not cut short. */
const TIMEOUT_MS = SHRINK ? 1_800_000 : Math.max(60_000, RUNS * 100);

/** Problem types (or OCSP statuses) each endpoint's cases must reach with the default runs: proof they get past auth and limits. */
const MUST_REACH: Record<Endpoint, string[]> = {
  sign: ['malformed-csr', 'csr-signature-invalid', 'payload-too-large', 'unsupported-media-type', 'unauthorized'],
  revoke: ['invalid-serial-number', 'invalid-revocation-reason', 'invalid-request', 'not-found', 'unsupported-media-type'],
  list: ['invalid-request', 'unauthorized'],
  get: ['invalid-serial-number', 'not-found', 'not-acceptable'],
  'keys-create': ['invalid-request', 'unsupported-media-type', 'unauthorized'],
  'keys-disable': ['invalid-request', 'not-found', 'conflict'],
  'ocsp-get': ['ocsp:malformedRequest', 'ocsp:unauthorized'],
  'ocsp-post': ['ocsp:malformedRequest', 'ocsp:unauthorized', 'payload-too-large'],
};

/** Forces a full garbage collection (jest does not start node with --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** JS heap and the memory of Buffers (request bodies live there, not on the JS heap), after a full GC. */
function memoryInUse(): { heap: number; buffers: number } {
  collectGarbage();
  collectGarbage();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/** What the answer was, for statistics: the problem type's last part, or the OCSP status. */
function outcome(answer: Answer): string {
  const type = String(answer.headers['content-type'] ?? '');
  if (type.startsWith('application/ocsp-response')) return `ocsp:${ocspStatusOf(answer.body)}`;
  try {
    return String(JSON.parse(answer.body.toString('utf8')).type).replace('urn:mtls-ca:problem:', '');
  } catch {
    return `status-${answer.status}`;
  }
}

function describeCase(req: BadRequest, answer: Answer | null, violations: string[]): string {
  const body = req.body === undefined ? 'none' : `${req.body.length} bytes: ${req.body.subarray(0, 120).toString('latin1')}`;
  const got = answer ? `${answer.status} ${answer.headers['content-type'] ?? ''} ${answer.body.subarray(0, 300).toString('latin1')}` : 'no answer';
  return [
    `${violations.join('; ')}`,
    `  case ${req.family}: ${req.method} ${req.path.slice(0, 300)}`,
    `  headers ${JSON.stringify(req.headers).slice(0, 300)}`,
    `  body ${body}`,
    `  answer ${got}`,
  ].join('\n');
}

/**
 * The cases, all of them: the server is the production one (createHttpServer with the default limits),
 * whose clientError handler answers what Node's HTTP parser refuses (raw 8-bit bytes in the
 * request-target, oversized heads) as problem+json too.
 */
function casesFor(endpoint: Endpoint): fc.Arbitrary<BadRequest> {
  return badRequests(endpoint, ADMIN);
}

async function ledgerCounts(t: TestService): Promise<Record<string, number>> {
  const [row] = await t.service.ledger.sql.query<Record<string, string | number>>(
    `SELECT (SELECT count(*) FROM certificates) AS certificates,
            (SELECT count(*) FROM certificates WHERE revoked_at IS NOT NULL) AS revoked,
            (SELECT count(*) FROM api_keys) AS keys,
            (SELECT count(*) FROM api_keys WHERE disabled_at IS NOT NULL) AS disabled`,
  );
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
}

describe.each(backends())('bad requests at every endpoint (%s)', (backend) => {
  let t: TestService;
  let server: Server;
  let target: Target;
  let ledgerBefore: Record<string, number>;
  let memoryBefore: { heap: number; buffers: number };
  const secrets: string[] = [ADMIN.appToken, process.cwd()];

  beforeAll(async () => {
    t = await startTestService(backend, {
      // Limits the service may add (rate limits, wrong-token throttling) must not swallow the cases.
      env: { RATE_LIMIT_SIGN_PER_IP: '0', RATE_LIMIT_PER_KEY: '0', AUTH_FAILURE_LIMIT: '0' },
    });
    secrets.push(t.dataDir);
    server = createHttpServer(t.service.app, httpLimitsOf(loadConfig({})));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    target = { host: '127.0.0.1', port: (server.address() as AddressInfo).port, agent: new Agent({ keepAlive: true, maxSockets: 4 }) };
    ledgerBefore = await ledgerCounts(t);
    // Warm up every path once so lazily built state does not count as heap growth (checked like the rest).
    for (const endpoint of ENDPOINTS) {
      for (const req of fc.sample(casesFor(endpoint), { seed: SEED, numRuns: 3 })) {
        const answer = await sendRequest(target, req);
        const violations = checkAnswer(req, answer, { secrets });
        if (violations.length > 0) throw new Error(`warm-up: ${describeCase(req, answer, violations)}`);
      }
    }
    memoryBefore = memoryInUse();
  });

  afterAll(async () => {
    target?.agent?.destroy();
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  it.each(ENDPOINTS.map((e, i) => [e, i] as const))('%s: every bad request gets a 4xx problem (OCSP: an unsuccessful OCSP answer)', async (endpoint, index) => {
    const seed = SEED + index;
    const seen = new Map<string, number>();
    const failures: string[] = [];
    const details = await fc.check(
      fc.asyncProperty(casesFor(endpoint), async (req) => {
        let answer: Answer;
        try {
          answer = await sendRequest(target, req);
        } catch (e) {
          failures.push(describeCase(req, null, [(e as Error).message]));
          return false;
        }
        const violations = checkAnswer(req, answer, { secrets });
        const kind = outcome(answer);
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        if (violations.length > 0) failures.push(describeCase(req, answer, violations));
        return violations.length === 0;
      }),
      { seed, numRuns: RUNS, endOnFailure: !SHRINK },
    );
    if (details.failed) {
      // The last failure recorded is the (shrunk) counterexample; the property's own report would print the whole body.
      throw new Error(
        `${failures[failures.length - 1] ?? details.errorInstance}\n\nReplay with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} ` +
          `(fast-check seed ${details.seed}, path ${details.counterexamplePath}); FUZZ_SHRINK=1 to shrink.`,
      );
    }
    if (process.env.FUZZ_VERBOSE) process.stdout.write(`${backend} ${endpoint}: ${JSON.stringify(Object.fromEntries([...seen].sort()))}\n`);
    if (RUNS >= 100) expect([...seen.keys()]).toEqual(expect.arrayContaining(MUST_REACH[endpoint]));
  }, TIMEOUT_MS);

  it('leaves no ledger row behind, keeps answering, and keeps the heap bounded', async () => {
    const after = await ledgerCounts(t);
    if (JSON.stringify(after) !== JSON.stringify(ledgerBefore)) {
      const newest = await t.service.ledger.sql.query(
        `SELECT 'certificate' AS kind, serial_number AS id, account, subject AS detail, revoked_at IS NOT NULL AS revoked FROM certificates
         UNION ALL SELECT 'key', app_key, account, array_to_string(permissions, ' '), disabled_at IS NOT NULL FROM api_keys`,
      );
      throw new Error(`the ledger changed: ${JSON.stringify(ledgerBefore)} -> ${JSON.stringify(after)}; rows now: ${JSON.stringify(newest)}`);
    }
    const publicGet = (path: string): BadRequest => ({ endpoint: 'get', family: 'health', method: 'GET', path, headers: {}, body: undefined, expect: { kind: 'problem' } });
    expect((await sendRequest(target, publicGet('/healthz'))).status).toBe(200);
    expect((await sendRequest(target, publicGet('/readyz'))).status).toBe(200);
    // Caches (keys seen, OCSP answers) are capped and small; no request body (up to 2 MiB each, tens
    // of MiB in all) may stay reachable.
    const memory = memoryInUse();
    if (process.env.FUZZ_VERBOSE) process.stdout.write(`${backend} memory growth: heap ${memory.heap - memoryBefore.heap}, buffers ${memory.buffers - memoryBefore.buffers}\n`);
    expect(memory.heap - memoryBefore.heap).toBeLessThan(32 * 1024 * 1024);
    expect(memory.buffers - memoryBefore.buffers).toBeLessThan(8 * 1024 * 1024);
  });
});
