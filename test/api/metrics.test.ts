import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backends } from '../helpers/backends';
import { binaryBody } from '../helpers/binary';
import { crlSerials, fetchCrl } from '../helpers/crl';
import { count, sample } from '../helpers/metrics';
import { openssl } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

const scrape = async (t: TestService): Promise<string> => {
  const res = await t.http.get('/metrics');
  expect(res.status).toBe(200);
  return res.text;
};

describe.each(backends())('GET /metrics on %s', (backend) => {
  let t: TestService;
  let acme: Awaited<ReturnType<TestService['createKey']>>;
  let globex: Awaited<ReturnType<TestService['createKey']>>;
  beforeAll(async () => {
    t = await startTestService(backend);
    acme = await t.createKey('acme', ['role:tenant']);
    globex = await t.createKey('globex', ['role:tenant']);
    await fs.writeFile(path.join(t.dataDir, 'ca.pem'), (await t.http.get('/ca.pem')).text);
  });
  afterAll(() => t.close());

  it('answers the Prometheus text format with the process metrics', async () => {
    const res = await t.http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(sample(res.text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(res.text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(res.text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });

  it('counts certificates issued and revoked by account and reason, exactly', async () => {
    const before = await scrape(t);
    const a1 = await issue(t, acme.headers, '/CN=a1/OU=acme');
    await issue(t, acme.headers, '/CN=a2/OU=acme');
    const g1 = await issue(t, globex.headers, '/CN=g1/OU=globex');
    expect((await t.http.delete(`/private-certificates/${a1.serialNumber}?reason=keyCompromise`).set(acme.headers)).status).toBe(200);
    // Revoking again answers the original revocation and is not counted again.
    expect((await t.http.delete(`/private-certificates/${a1.serialNumber}?reason=keyCompromise`).set(acme.headers)).status).toBe(200);
    expect((await t.http.delete(`/private-certificates/${g1.serialNumber}`).set(globex.headers)).status).toBe(200);
    const after = await scrape(t);

    const delta = (name: string, labels: Record<string, string>) => count(after, name, labels) - count(before, name, labels);
    expect(delta('mtlsca_certificates_issued_total', { account: 'acme' })).toBe(2);
    expect(delta('mtlsca_certificates_issued_total', { account: 'globex' })).toBe(1);
    expect(delta('mtlsca_certificates_revoked_total', { account: 'acme', reason: 'keyCompromise' })).toBe(1);
    expect(delta('mtlsca_certificates_revoked_total', { account: 'globex', reason: 'unspecified' })).toBe(1);
    expect(delta('mtlsca_certificates_revoked_total', { account: 'acme', reason: 'unspecified' })).toBe(0);
    // The OCSP signer certificate is in the ledger but was not issued through the API.
    expect(sample(after, 'mtlsca_certificates_issued_total', { account: 'mtls-ca' })).toBeUndefined();
  });

  it('labels requests by route pattern, never by raw path, and counts each one', async () => {
    const cert = await issue(t, acme.headers, '/CN=routes/OU=acme');
    const before = await scrape(t);
    await t.http.get(`/private-certificates/${cert.serialNumber}`).set(acme.headers).expect(200);
    await t.http.get(`/private-certificates/${cert.serialNumber}`).set(acme.headers).expect(200);
    await t.http.get('/private-certificates/ABCDEF').set(acme.headers).expect(404);
    // Rejected by the route's own auth check: still that route's pattern (the router has unwound by then).
    await t.http.get(`/private-certificates/${cert.serialNumber}`).expect(401);
    await t.http.get(`/api/edge/private-certificates/${cert.serialNumber}`).set(acme.headers).expect(200);
    await t.http.get('/no/such/path-0123456789').expect(404);
    await t.http.delete('/crl').expect(404);
    await t.http.get('/ocsp/not-base64!').expect(200);
    const after = await scrape(t);

    const delta = (labels: Record<string, string>) => count(after, 'mtlsca_http_requests_total', labels) - count(before, 'mtlsca_http_requests_total', labels);
    const serialRoute = '/private-certificates/:serialNumber';
    expect(delta({ method: 'GET', route: serialRoute, status: '200' })).toBe(2);
    expect(delta({ method: 'GET', route: serialRoute, status: '404' })).toBe(1);
    expect(delta({ method: 'GET', route: serialRoute, status: '401' })).toBe(1);
    expect(delta({ method: 'GET', route: '/api/edge/private-certificates/:serialNumber', status: '200' })).toBe(1);
    expect(delta({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(delta({ method: 'DELETE', route: 'unmatched', status: '404' })).toBe(1);
    expect(delta({ method: 'GET', route: '/ocsp/:request', status: '200' })).toBe(1);
    // The scrape before this one is counted too, under its own route.
    expect(delta({ method: 'GET', route: '/metrics', status: '200' })).toBe(1);
    expect(count(after, 'mtlsca_http_requests_total', { method: 'POST', route: '/private-certificates/sign', status: '200' })).toBeGreaterThan(0);
    expect(after).not.toContain(cert.serialNumber);
    expect(after).not.toContain('no/such');
    expect(after).not.toContain('ABCDEF');
  });

  it('has a latency histogram per method and route whose count matches the requests', async () => {
    await t.http.get('/healthz').expect(200);
    const text = await scrape(t);
    const labels = { method: 'GET', route: '/healthz' };
    for (const le of ['0.001', '0.005', '0.1', '1', '10', '+Inf']) {
      expect(sample(text, 'mtlsca_http_request_duration_seconds_bucket', { ...labels, le })).toBeGreaterThanOrEqual(0);
    }
    const requests = count(text, 'mtlsca_http_requests_total', { ...labels, status: '200' });
    expect(requests).toBeGreaterThan(0);
    expect(sample(text, 'mtlsca_http_request_duration_seconds_count', labels)).toBe(requests);
    expect(sample(text, 'mtlsca_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(requests);
    expect(sample(text, 'mtlsca_http_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
  });

  it('counts OCSP answers by status, cached ones too', async () => {
    const good = await issue(t, acme.headers, '/CN=ocsp-good/OU=acme');
    const revoked = await issue(t, acme.headers, '/CN=ocsp-revoked/OU=acme');
    await t.http.delete(`/private-certificates/${revoked.serialNumber}`).set(acme.headers).expect(200);
    const ask = async (certPath: string) => {
      await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', certPath, '-no_nonce', '-reqout', 'metrics-req.der'], { cwd: t.dataDir });
      const body = await fs.readFile(path.join(t.dataDir, 'metrics-req.der'));
      const res = await t.http.post('/ocsp').set('Content-Type', 'application/ocsp-request').send(body).buffer(true).parse(binaryBody);
      expect(res.status).toBe(200);
    };
    const before = await scrape(t);
    await ask(good.certPath);
    await ask(good.certPath); // answered from the cache
    await ask(revoked.certPath);
    await t.http.post('/ocsp').set('Content-Type', 'application/ocsp-request').send(Buffer.from('not DER')).expect(200);
    const after = await scrape(t);
    const delta = (status: string) => count(after, 'mtlsca_ocsp_responses_total', { status }) - count(before, 'mtlsca_ocsp_responses_total', { status });
    expect(delta('good')).toBe(2);
    expect(delta('revoked')).toBe(1);
    expect(delta('malformedRequest')).toBe(1);
    expect(delta('unknown')).toBe(0);
  });

  it('reports the served CRL: number, entries, size in bytes, age, and build durations', async () => {
    const cert = await issue(t, acme.headers, '/CN=crl-gauges/OU=acme');
    const buildsBefore = count(await scrape(t), 'mtlsca_crl_build_duration_seconds_count', { kind: 'incremental' });
    await t.http.delete(`/private-certificates/${cert.serialNumber}`).set(acme.headers).expect(200);
    await eventually(async () => crlSerials((await fetchCrl(t)).crl).includes(cert.serialNumber), 10_000, 25, 'the revoked serial on the CRL');
    const served = await fetchCrl(t);
    const text = await scrape(t);
    expect(sample(text, 'mtlsca_crl_number')).toBe(Number(served.number));
    expect(sample(text, 'mtlsca_crl_entries')).toBe(served.crl.entries.length);
    expect(sample(text, 'mtlsca_crl_size_bytes')).toBe(served.der.length);
    expect(sample(text, 'mtlsca_crl_next_update_timestamp_seconds')).toBe(served.crl.nextUpdate!.getTime() / 1000);
    const age = sample(text, 'mtlsca_crl_age_seconds')!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(Math.abs(age - (Date.now() - served.crl.thisUpdate.getTime()) / 1000)).toBeLessThan(5);
    expect(count(text, 'mtlsca_crl_build_duration_seconds_count', { kind: 'incremental' })).toBeGreaterThan(buildsBefore);
    expect(count(text, 'mtlsca_crl_build_duration_seconds_count', { kind: 'full' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'mtlsca_crl_build_duration_seconds_bucket', { kind: 'full', le: '+Inf' })).toBeGreaterThanOrEqual(1);
    expect(count(text, 'mtlsca_crl_build_failures_total')).toBe(0);
  });

  it(backend === 'postgres' ? 'reports the PostgreSQL pool' : 'reports no pool on PGlite (one embedded connection)', async () => {
    const text = await scrape(t);
    if (backend === 'pglite') {
      expect(text).not.toContain('mtlsca_db_pool');
      return;
    }
    expect(sample(text, 'mtlsca_db_pool_max_connections')).toBe(5); // the test databases' pool size
    const open = sample(text, 'mtlsca_db_pool_connections')!;
    expect(open).toBeGreaterThanOrEqual(1);
    expect(open).toBeLessThanOrEqual(5);
    expect(sample(text, 'mtlsca_db_pool_idle_connections')).toBeLessThanOrEqual(open);
    expect(sample(text, 'mtlsca_db_pool_waiting_requests')).toBeGreaterThanOrEqual(0);
  });

  it('counts rate-limit rejections by scope', async () => {
    const before = count(await scrape(t), 'mtlsca_rate_limit_rejections_total', { scope: 'ip' });
    t.service.metrics!.rateLimited('ip');
    t.service.metrics!.rateLimited('ip');
    t.service.metrics!.rateLimited('key');
    const text = await scrape(t);
    expect(count(text, 'mtlsca_rate_limit_rejections_total', { scope: 'ip' }) - before).toBe(2);
    expect(count(text, 'mtlsca_rate_limit_rejections_total', { scope: 'key' })).toBe(1);
  });
});

describe.each(backends())('access to /metrics on %s', (backend) => {
  const token = 'metrics-token-0123456789abcdef';
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(backend, { env: { METRICS_TOKEN: token } });
  });
  afterAll(() => t.close());

  it('answers 401 problem+json without the bearer token or with a wrong one, 200 with the right one', async () => {
    for (const authorization of [undefined, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Basic ${token}`, token, 'Bearer ']) {
      const req = t.http.get('/metrics');
      const res = await (authorization === undefined ? req : req.set('Authorization', authorization));
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(JSON.parse(res.text)).toMatchObject({ type: 'urn:mtls-ca:problem:unauthorized', status: 401 });
      expect(res.text).not.toContain('mtlsca_');
    }
    const ok = await t.http.get('/metrics').set('Authorization', `Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('mtlsca_http_requests_total');
    // The refused scrapes were counted like any other request.
    expect(count(ok.text, 'mtlsca_http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBe(6);
  });
});

describe.each(backends())('METRICS_ENABLED=false on %s', (backend) => {
  it('has no /metrics (404) and no metrics object', async () => {
    const t = await startTestService(backend, { env: { METRICS_ENABLED: 'false' } });
    try {
      const res = await t.http.get('/metrics');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(t.service.metrics).toBeNull();
      await t.http.get('/healthz').expect(200);
    } finally {
      await t.close();
    }
  });
});
