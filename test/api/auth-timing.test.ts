import crypto from 'node:crypto';
import { TokenHasher } from '../../src/domain/api-key';
import { AuthGuard } from '../../src/services/auth-guard';
import { ADMIN, startTestService, type TestService } from '../helpers/test-service';

/** Starting a service (PGlite, a new CA) on a loaded 2-core machine can take long: a generous bound. */
const START_BOUND_MS = 120_000;
const WRONG = 'a-wrong-token-of-plausible-length-000000000';

/**
 * An unknown appKey and a known appKey with a wrong token must not be told apart, by the answer or by
 * the work done for it (a timing side channel follows from different work). The work is counted here,
 * not timed: timing belongs to `npm run bench`, and medians on a busy machine flake.
 */
describe('an unknown appKey and a wrong token are indistinguishable', () => {
  let t: TestService;
  beforeAll(async () => {
    // The throttle on (the harness turns it off), so its work is compared too; the key cache long enough
    // that a busy machine cannot let an entry lapse between two attempts.
    t = await startTestService('pglite', { env: { AUTH_FAILURE_LIMIT: '10', AUTH_FAILURE_LIMIT_PER_IP: '1000', API_KEY_CACHE_MS: '60000' } });
  }, START_BOUND_MS);
  afterAll(() => t.close());
  afterEach(() => jest.restoreAllMocks());

  const attempt = (appKey: string) => t.http.get('/private-certificates').set({ 'X-API-AppKey': appKey, 'X-API-AppToken': WRONG });

  /** What one attempt did: HMACs, constant-time comparisons, ledger lookups and throttle calls, in order. */
  async function workOf(appKey: string) {
    const hash = jest.spyOn(TokenHasher.prototype, 'hash');
    const verify = jest.spyOn(TokenHasher.prototype, 'verify');
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    const find = jest.spyOn(t.service.ledger.apiKeys, 'find');
    const before = jest.spyOn(AuthGuard.prototype, 'beforeAuthenticate');
    const failed = jest.spyOn(AuthGuard.prototype, 'failed');
    const admitted = jest.spyOn(AuthGuard.prototype, 'admitted');
    const res = await attempt(appKey);
    const work = {
      hmacs: hash.mock.calls.length,
      verifies: verify.mock.calls.length,
      constantTimeCompares: compare.mock.calls.length,
      ledgerLookups: find.mock.calls.length,
      throttle: [before.mock.calls.length, failed.mock.calls.length, admitted.mock.calls.length],
      comparedAgainstDecoy: verify.mock.calls.map((c) => c[1] === null),
    };
    jest.restoreAllMocks();
    return { res, work };
  }

  it('answers with the same status, body and headers', async () => {
    const known = await attempt(ADMIN.appKey);
    const unknown = await attempt('nobody-has-this-key');
    expect(known.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(known.text).toBe(unknown.text);
    const headers = (h: Record<string, string>) => {
      const { date: _date, 'x-request-id': _id, ...rest } = h;
      return rest;
    };
    expect(headers(known.headers)).toEqual(headers(unknown.headers));
  });

  it('does the same work: one lookup, one HMAC, one constant-time comparison (against a decoy for an unknown key), the same throttle calls', async () => {
    const fresh = await t.createKey('acme', ['role:tenant']); // never looked up yet, like the unknown key
    const known = await workOf(fresh.appKey);
    const unknown = await workOf('another-unknown-key');
    expect(known.res.status).toBe(401);
    expect(unknown.res.status).toBe(401);
    expect(known.work).toEqual({
      hmacs: 1,
      verifies: 1,
      constantTimeCompares: 1,
      ledgerLookups: 1,
      throttle: [1, 1, 0],
      comparedAgainstDecoy: [false],
    });
    expect(unknown.work).toEqual({ ...known.work, comparedAgainstDecoy: [true] });
  });

  it('caches an unknown key like a known one: the second attempt of either reads nothing from the ledger', async () => {
    await attempt(ADMIN.appKey);
    await attempt('cached-unknown-key');
    const known = await workOf(ADMIN.appKey);
    const unknown = await workOf('cached-unknown-key');
    expect(known.work.ledgerLookups).toBe(0);
    expect(unknown.work.ledgerLookups).toBe(0);
  });
});
