import { FixedClock } from '../../src/domain/clock';
import { Metrics } from '../../src/observability/metrics';
import { count, sample } from '../helpers/metrics';

describe('Metrics', () => {
  it('keeps each instance apart, and gives each the live process metrics', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.issued('acme');
    a.issued('acme');
    b.issued('acme');
    const [ta, tb] = [(await a.scrape()).body, (await b.scrape()).body];
    expect(count(ta, 'mtlsca_certificates_issued_total', { account: 'acme' })).toBe(2);
    expect(count(tb, 'mtlsca_certificates_issued_total', { account: 'acme' })).toBe(1);
    for (const text of [ta, tb]) {
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    }
  });

  it('keeps the method label bounded: unusual methods count as "other"', async () => {
    const m = new Metrics();
    m.observeRequest('PROPFIND', 'unmatched', 404, 0.002);
    m.observeRequest('GET', '/crl', 200, 0.002);
    const text = (await m.scrape()).body;
    expect(count(text, 'mtlsca_http_requests_total', { method: 'other', route: 'unmatched', status: '404' })).toBe(1);
    expect(text).not.toContain('PROPFIND');
    expect(sample(text, 'mtlsca_http_request_duration_seconds_bucket', { method: 'GET', route: '/crl', le: '0.001' })).toBe(0);
    expect(sample(text, 'mtlsca_http_request_duration_seconds_bucket', { method: 'GET', route: '/crl', le: '0.0025' })).toBe(1);
  });

  it('reads the CRL gauges at scrape time, the age from the injected clock', async () => {
    const m = new Metrics();
    const clock = new FixedClock(new Date('2026-06-01T00:00:00Z'));
    let crl = { der: Buffer.alloc(300), crlNumber: 7n, entries: 3, thisUpdate: new Date('2026-05-31T23:59:00Z'), nextUpdate: new Date('2026-06-01T23:59:00Z') };
    m.watchCrl(() => crl, clock);
    let text = (await m.scrape()).body;
    expect([sample(text, 'mtlsca_crl_number'), sample(text, 'mtlsca_crl_entries'), sample(text, 'mtlsca_crl_size_bytes')]).toEqual([7, 3, 300]);
    expect(sample(text, 'mtlsca_crl_age_seconds')).toBe(60);
    crl = { ...crl, crlNumber: 8n, entries: 4, der: Buffer.alloc(350) };
    clock.advance(30_000);
    text = (await m.scrape()).body;
    expect([sample(text, 'mtlsca_crl_number'), sample(text, 'mtlsca_crl_entries'), sample(text, 'mtlsca_crl_size_bytes')]).toEqual([8, 4, 350]);
    expect(sample(text, 'mtlsca_crl_age_seconds')).toBe(90);
    expect(sample(text, 'mtlsca_crl_next_update_timestamp_seconds')).toBe(Date.parse('2026-06-01T23:59:00Z') / 1000);
  });

  it('registers no pool gauges without a pool (PGlite)', async () => {
    const m = new Metrics();
    m.watchPool(() => null);
    expect((await m.scrape()).body).not.toContain('mtlsca_db_pool');
  });
});
