import { binaryBody } from '../helpers/binary';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { children, objectIdentifier, octetString, readTlv, sequence, slice, tlv } from '../../src/domain/der';
import { OCSP_OID } from '../../src/domain/ocsp';
import { backends, createTestDatabase } from '../helpers/backends';
import { openssl, opensslStatus } from '../helpers/openssl';
import { eventually, issue } from '../helpers/sign';
import { startTestService, type TestService } from '../helpers/test-service';

const MALFORMED_REQUEST = '30030a0101';

/** An OCSP request for `certPath` without a nonce, made by openssl (DER). */
async function ocspRequestFor(t: TestService, certPath: string): Promise<Buffer> {
  const reqPath = `${certPath}.ocsp-req`;
  await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', certPath, '-no_nonce', '-reqout', reqPath], { cwd: t.dataDir });
  return fs.readFile(reqPath);
}

/** The same request with a nonce extension of exactly these octets (RFC 8954: extnValue = DER OCTET STRING). */
function withNonce(request: Buffer, nonce: Buffer): Buffer {
  const tbs = readTlv(request, readTlv(request, 0).contentStart);
  const [requestList] = children(request, tbs);
  const extension = sequence(objectIdentifier(OCSP_OID.nonce), octetString(octetString(nonce)));
  return sequence(sequence(slice(request, requestList), tlv(0xa2, sequence(extension))));
}

/** Sends an OCSP request to a replica over POST or GET; the answer's DER. */
async function askOcsp(t: TestService, request: Buffer, method: 'GET' | 'POST'): Promise<Buffer> {
  const res =
    method === 'POST'
      ? await t.http.post('/ocsp').set('Content-Type', 'application/ocsp-request').send(request).buffer(true).parse(binaryBody)
      : await t.http.get(`/ocsp/${encodeURIComponent(request.toString('base64'))}`).buffer(true).parse(binaryBody);
  expect(res.status).toBe(200);
  return res.body as Buffer;
}

/** The certificate status openssl reads in an answer ('good', 'revoked', 'unknown'), or its error status. */
async function statusOf(t: TestService, answer: Buffer): Promise<string> {
  const respPath = path.join(t.dataDir, `resp-${process.hrtime.bigint()}.der`);
  await fs.writeFile(respPath, answer);
  const text = (await opensslStatus(['ocsp', '-respin', respPath, '-resp_text', '-noverify'])).output;
  return /Cert Status: (\w+)/.exec(text)?.[1] ?? /Responder Error: (\w+)/.exec(text)?.[1] ?? 'none';
}

/**
 * Asks until two answers in a row are the same bytes: the second came from the cache (ECDSA signatures
 * are randomized, so a freshly signed answer never repeats). Returns that answer.
 */
async function warmCache(t: TestService, request: Buffer, method: 'GET' | 'POST'): Promise<Buffer> {
  let previous = await askOcsp(t, request, method);
  const cached = await eventually(async () => {
    const next = await askOcsp(t, request, method);
    const same = next.equals(previous);
    previous = next;
    return same ? next : null;
  }, 10_000, 50);
  if (!cached) throw new Error('the OCSP answer was never served from the cache');
  return cached;
}

/** A fresh certificate of `tenant`'s account whose `good` answer `t` now serves from its cache, and its request. */
async function cachedGoodCertificate(t: TestService, tenant: { headers: Record<string, string> }): Promise<{ serialNumber: string; request: Buffer }> {
  const c = await issue(t, tenant.headers);
  const request = await ocspRequestFor(t, c.certPath);
  expect(await statusOf(t, await warmCache(t, request, 'POST'))).toBe('good');
  return { serialNumber: c.serialNumber, request };
}

/** Makes every CRL build of this replica fail, as a database that refuses the build would; returns the undo. */
function breakCrlBuilds(t: TestService): () => void {
  const crls = t.service.ledger.crls;
  const build = crls.build;
  crls.build = async () => {
    throw new Error('injected CRL build failure');
  };
  return () => {
    crls.build = build;
  };
}

describe.each(backends())('the OCSP responder with the real openssl client (%s)', (backend) => {
  let t: TestService;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    t = await startTestService(backend);
    server = t.service.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ocsp`;
    await fs.writeFile(path.join(t.dataDir, 'ca.pem'), (await t.http.get('/ca.pem')).text);
    // Another CA's certificate, to ask about as an issuer this responder does not serve.
    await openssl(['req', '-x509', '-new', '-nodes', '-subj', '/CN=stranger', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-keyout', 'stranger.key', '-out', 'stranger.crt', '-days', '1'], { cwd: t.dataDir });
  });
  afterAll(async () => {
    server.close();
    await t.close();
  });

  const ocsp = (certPath: string, extra: string[] = []) =>
    opensslStatus(['ocsp', '-issuer', 'ca.pem', '-cert', certPath, '-url', url, '-CAfile', 'ca.pem', ...extra], t.dataDir);

  it('records its delegated signer certificate in the ledger, under the service account', async () => {
    const res = await t.http.get('/private-certificates?account=mtls-ca').set(t.admin);
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({ account: 'mtls-ca', status: 'valid' });
    // The generated root's name carries a per-install suffix; the responder is named after it.
    expect(res.body.items[0].commonName).toBe(`${t.service.ca.certificate.subjectName.getField('CN')[0]} OCSP Responder`);
    expect(res.body.items[0].commonName).toMatch(/^mtls-ca Root CA [0-9A-F]{6} OCSP Responder$/);
  });

  it('puts the OCSP URL in issued certificates', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const { stdout } = await openssl(['x509', '-in', c.certPath, '-noout', '-ocsp_uri']);
    expect(stdout.trim()).toBe('http://ca.test/ocsp');
  });

  it('answers good, then revoked with the reason after a DELETE, signed by a delegated responder openssl verifies', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const good = await ocsp(c.certPath, ['-no_nonce']);
    expect(good.output).toContain('Response verify OK');
    expect(good.output).toContain(`${c.certPath}: good`);
    expect(good.code).toBe(0);

    expect((await t.http.delete(`/private-certificates/${c.serialNumber}?reason=keyCompromise`).set(tenant.headers)).status).toBe(200);
    const revoked = await ocsp(c.certPath, ['-no_nonce']);
    expect(revoked.output).toContain(`${c.certPath}: revoked`);
    expect(revoked.output).toContain('Response verify OK');
    expect(revoked.output).toContain('Reason: keyCompromise');
  });

  it.each(['POST', 'GET'] as const)('answers revoked at once after the DELETE answered, though good was cached (%s, no nonce)', async (method) => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const request = await ocspRequestFor(t, c.certPath);
    expect(await statusOf(t, await warmCache(t, request, method))).toBe('good');

    expect((await t.http.delete(`/private-certificates/${c.serialNumber}`).set(tenant.headers)).status).toBe(200);
    // No wait: the CRL build that follows a revocation has not even started yet.
    expect(await statusOf(t, await askOcsp(t, request, method))).toBe('revoked');
  });

  it('answers revoked after a DELETE whose CRL build fails, and keeps saying so while builds keep failing', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const { serialNumber, request } = await cachedGoodCertificate(t, tenant);
    const crlBefore = t.service.crl.current()!.crlNumber;
    const restore = breakCrlBuilds(t);
    try {
      expect((await t.http.delete(`/private-certificates/${serialNumber}`).set(tenant.headers)).status).toBe(200);
      expect(await statusOf(t, await askOcsp(t, request, 'POST'))).toBe('revoked');
      await new Promise((r) => setTimeout(r, 1500)); // builds fail and retry meanwhile
      expect(t.service.crl.current()!.crlNumber).toBe(crlBefore); // no CRL was published
      for (const method of ['POST', 'GET'] as const) expect(await statusOf(t, await askOcsp(t, request, method))).toBe('revoked');
    } finally {
      restore();
    }
  });

  it('echoes a nonce (openssl checks it)', async () => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const r = await ocsp(c.certPath, ['-nonce', '-resp_text']);
    expect(r.output).toContain('Response verify OK');
    expect(r.output).toContain('OCSP Nonce');
    expect(r.output).not.toContain('WARNING: no nonce in response');
    expect(r.output).toContain(`${c.certPath}: good`);
    // The delegated signer: EKU OCSP Signing and id-pkix-ocsp-nocheck.
    expect(r.output).toContain('OCSP Signing');
    expect(r.output).toContain('OCSP No Check');
  });

  it.each([1, 32])('echoes a nonce of %i octets (RFC 8954)', async (size) => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const nonce = Buffer.alloc(size, 0x5a);
    const request = withNonce(await ocspRequestFor(t, c.certPath), nonce);
    const answer = await askOcsp(t, request, 'POST');
    expect(await statusOf(t, answer)).toBe('good');
    expect(answer.includes(sequence(objectIdentifier(OCSP_OID.nonce), octetString(octetString(nonce))))).toBe(true);
  });

  it.each([0, 33, 15_000])('answers malformedRequest to a nonce of %i octets, echoing nothing', async (size) => {
    const tenant = await t.createKey('acme', ['role:tenant']);
    const c = await issue(t, tenant.headers);
    const request = withNonce(await ocspRequestFor(t, c.certPath), Buffer.alloc(size, 0x5a));
    for (const method of size > 1000 ? (['POST'] as const) : (['POST', 'GET'] as const)) {
      expect((await askOcsp(t, request, method)).toString('hex')).toBe(MALFORMED_REQUEST);
    }
  });

  it('answers unknown for a serial that is not in the ledger', async () => {
    const r = await opensslStatus(['ocsp', '-issuer', 'ca.pem', '-serial', '0x0123456789ABCDEF', '-url', url, '-CAfile', 'ca.pem', '-no_nonce'], t.dataDir);
    expect(r.output).toContain('0x0123456789ABCDEF: unknown');
  });

  it('answers unauthorized for another issuer, and malformedRequest for garbage, over POST and GET, never a 5xx', async () => {
    const dir = t.dataDir;
    const r = await opensslStatus(['ocsp', '-issuer', 'stranger.crt', '-serial', '0x01', '-url', url, '-no_nonce'], dir);
    expect(r.output).toMatch(/unauthorized/i);
    for (const res of [
      await t.http.post('/ocsp').set('Content-Type', 'application/ocsp-request').send(Buffer.from('not der')).buffer(true).parse(binaryBody),
      await t.http.get('/ocsp/bm90IGRlcg%3D%3D').buffer(true).parse(binaryBody),
      await t.http.get('/ocsp/%%%').buffer(true).parse(binaryBody),
      await t.http.post('/ocsp').set('Content-Type', 'application/ocsp-request').send(Buffer.alloc(4000, 0x30)).buffer(true).parse(binaryBody),
    ]) {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/ocsp-response');
      expect(Buffer.from(res.body as Buffer).toString('hex')).toBe(MALFORMED_REQUEST);
    }
  });
});

const postgresOnly = backends().includes('postgres') ? describe : describe.skip;

/** Two replicas on one PostgreSQL sharing the CA, as in production. */
postgresOnly('OCSP on a replica that did not revoke (PostgreSQL)', () => {
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    const db = await createTestDatabase('postgres');
    a = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40) }, crl: { pollMs: 100 } });
    const caFiles = { CA_CERT_FILE: `${a.dataDir}/ca/ca.crt`, CA_KEY_FILE: `${a.dataDir}/ca/ca.key` };
    b = await startTestService('postgres', { db, env: { API_TOKEN_PEPPER: 'p'.repeat(40), ...caFiles }, crl: { pollMs: 100 } });
    await fs.writeFile(path.join(a.dataDir, 'ca.pem'), (await a.http.get('/ca.pem')).text);
  });
  afterAll(async () => {
    await b?.service.close();
    await a?.close();
  });

  it('drops its cached good within the poll bound when no CRL can be built anywhere', async () => {
    const tenant = await a.createKey('acme', ['role:tenant']);
    const { serialNumber, request } = await cachedGoodCertificate(a, tenant);
    const crlBefore = a.service.crl.current()!.crlNumber;
    const restore = [breakCrlBuilds(a), breakCrlBuilds(b)];
    try {
      expect((await b.http.delete(`/private-certificates/${serialNumber}`).set(tenant.headers)).status).toBe(200);
      expect(await statusOf(b, await askOcsp(b, request, 'POST'))).toBe('revoked');
      // The other replica learns of it from the ledger (polled every 100 ms here), not from a new CRL.
      const revoked = await eventually(async () => (await statusOf(a, await askOcsp(a, request, 'POST'))) === 'revoked', 10_000, 100);
      expect(revoked).toBe(true);
      expect(a.service.crl.current()!.crlNumber).toBe(crlBefore);
    } finally {
      restore.forEach((undo) => undo());
    }
    // Builds work again: the revocation reaches the CRL, and the answer stays revoked.
    const onCrl = await eventually(async () => a.service.crl.current()!.crlNumber > crlBefore, 10_000, 100);
    expect(onCrl).toBe(true);
    expect(await statusOf(a, await askOcsp(a, request, 'GET'))).toBe('revoked');
  });
});
