import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { X509Certificate } from '@peculiar/x509';
import { loadOrCreateCa } from '../../src/ca/ca-keystore';
import { spkiSha256 } from '../../src/ca/ca-identity';
import { SECRET_PURPOSE } from '../../src/ca/secret-vault';
import { systemClock } from '../../src/domain/clock';
import { randomSerialSource } from '../../src/domain/serial-number';
import type { LedgerTarget } from '../../src/store/ledger';
import { backends, createTestDatabase, type BackendName, type TestDatabase } from '../helpers/backends';
import {
  adminHeaders,
  caPrivateBytes,
  expectNoSecretsIn,
  ledgerSnapshot,
  MASTER_KEY,
  OTHER_MASTER_KEY,
  previousVersionLedger,
  recordingLogger,
  startOn,
  type Started,
} from '../helpers/custody';
import { tempDir } from '../helpers/openssl';

jest.setTimeout(240_000);

const M = { MTLS_CA_MASTER_KEY: MASTER_KEY };

/** The pinned identity row, read through a running service's ledger. */
async function pinOf(s: Started): Promise<{ spki_sha256: string; backend: string } | undefined> {
  return (await s.service.ledger.sql.query<{ spki_sha256: string; backend: string }>('SELECT spki_sha256, backend FROM ca_identity'))[0];
}

const caSpki = (s: Started) => spkiSha256(new Uint8Array(s.service.ca.certificate.publicKey.rawData));

/** The CA key files the previous version made in a data directory (same code: generated, PKCS#8 PEM, 0600). */
async function previousVersionFiles(dataDir: string): Promise<{ spki: string; pepper: Buffer }> {
  const { ca } = await loadOrCreateCa(
    { dataDir, subject: 'CN=mtls-ca Root CA,O=mtls-ca', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 },
    globalThis.crypto,
    systemClock,
    randomSerialSource,
  );
  const pepper = randomBytes(32);
  await fs.writeFile(path.join(dataDir, 'token-pepper'), pepper.toString('base64') + '\n', { mode: 0o600 });
  return { spki: spkiSha256(new Uint8Array(ca.certificate.publicKey.rawData)), pepper };
}

/** Data directories and services of one test, and their cleanup (with the test database). */
function workspace() {
  const dirs: string[] = [];
  const running: Started[] = [];
  return {
    running,
    async newDir() {
      const d = await tempDir();
      dirs.push(d);
      return d;
    },
    async cleanup(db: TestDatabase) {
      for (const s of running.splice(0)) await s.close();
      await db.drop();
      for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
    },
  };
}

describe.each(backends())('the CA custody on %s', (backend: BackendName) => {
  let db: TestDatabase;
  const { running, newDir, cleanup } = workspace();
  /** PGlite's ledger lives in the first data directory; PostgreSQL's is shared by every data directory. */
  const targetFor = (dataDir: string): LedgerTarget => (backend === 'pglite' ? { kind: 'pglite', dataDir: path.join(dataDir, 'db') } : db.target);
  const start = async (dataDir: string, env: Record<string, string> = {}, target = targetFor(dataDir), logger?: Parameters<typeof startOn>[3]) => {
    const s = await startOn(target, dataDir, env, logger);
    running.push(s);
    return s;
  };
  const stop = async (s: Started) => {
    running.splice(running.indexOf(s), 1);
    await s.close();
  };

  beforeEach(async () => {
    db = await createTestDatabase(backend);
  });
  afterEach(() => cleanup(db));

  it('with MTLS_CA_MASTER_KEY keeps no key and no pepper on disk; another start with an empty data directory serves the same CA and accepts its keys; a wrong master key refuses and changes nothing', async () => {
    const dirA = await newDir();
    const a = await start(dirA, M);
    expect(a.service.ca.certificate.subject).toMatch(/^CN=mtls-ca Root CA [0-9A-F]{6}, O=mtls-ca$/);
    const ops = await a.http.post('/keys').set(adminHeaders).send({ account: 'ops', permissions: ['admin'] });
    expect(ops.status).toBe(201);
    const pepper = await a.service.vault!.unwrap(SECRET_PURPOSE.tokenPepper);
    expect(pepper).toHaveLength(32);
    const caPem = (await a.http.get('/ca.pem')).text;
    await expectNoSecretsIn(dirA, [...(await caPrivateBytes(a.service)), pepper!]);
    expect(await pinOf(a)).toEqual({ spki_sha256: caSpki(a), backend: 'ledger' });

    // PostgreSQL: a second replica with its own, empty data directory. PGlite: the same ledger after a restart.
    let dirB = dirA;
    if (backend === 'postgres') dirB = await newDir();
    else await stop(a);
    const b = await start(dirB, M, targetFor(dirA));
    expect((await b.http.get('/ca.pem')).text).toBe(caPem);
    const opsHeaders = { 'X-API-AppKey': ops.body.appKey, 'X-API-AppToken': ops.body.appToken };
    expect((await b.http.get('/keys').set(opsHeaders)).status).toBe(200);
    expect((await b.http.get('/keys').set({ ...opsHeaders, 'X-API-AppToken': `${ops.body.appToken}x` })).status).toBe(401);
    const made = await b.http.post('/keys').set(adminHeaders).send({ account: 'ops2', permissions: ['admin'] });
    expect(made.status).toBe(201);
    if (backend === 'postgres') {
      await expectNoSecretsIn(dirB, [...(await caPrivateBytes(b.service)), pepper!]);
      expect((await a.http.get('/keys').set({ 'X-API-AppKey': made.body.appKey, 'X-API-AppToken': made.body.appToken })).status).toBe(200);
    }
    await stop(b);

    const before = await ledgerSnapshot(targetFor(dirA));
    const wrong = await start(await newDir(), { MTLS_CA_MASTER_KEY: OTHER_MASTER_KEY }, targetFor(dirA)).catch((e: Error) => e);
    expect(wrong).toBeInstanceOf(Error);
    expect((wrong as Error).message).toMatch(/^cannot unwrap the CA key: wrong MTLS_CA_MASTER_KEY\?/);
    expect((wrong as Error).message).not.toContain(OTHER_MASTER_KEY);
    // Without any master key, the ledger's CA cannot be had either: refused, not replaced.
    const none = await start(await newDir(), {}, targetFor(dirA)).catch((e: Error) => e);
    expect((none as Error).message).toMatch(/wrapped by MTLS_CA_MASTER_KEY: set MTLS_CA_MASTER_KEY/);
    expect(await ledgerSnapshot(targetFor(dirA))).toEqual(before);
  });

  it('adopts the CA files of a ledger made by the previous version, then wraps them into the ledger once the master key is set', async () => {
    const dirA = await newDir();
    const old = await previousVersionFiles(dirA);
    await previousVersionLedger(targetFor(dirA), old.pepper);

    const a = await start(dirA);
    expect(caSpki(a)).toBe(old.spki);
    expect(a.service.ca.certificate.subject).toBe('CN=mtls-ca Root CA, O=mtls-ca'); // a pinned name stays as it is
    expect((await a.http.get('/keys').set(adminHeaders)).status).toBe(200); // the previous version's key still works
    expect(await pinOf(a)).toEqual({ spki_sha256: old.spki, backend: 'file' });
    const caPem = (await a.http.get('/ca.pem')).text;
    await stop(a);

    const { logger, lines } = recordingLogger();
    const wrapped = await start(dirA, M, targetFor(dirA), logger);
    expect(caSpki(wrapped)).toBe(old.spki);
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/^wrapped the CA key into the ledger with MTLS_CA_MASTER_KEY/), expect.stringMatching(/^wrapped the API-token pepper into the ledger/)]));
    expect(JSON.stringify(lines)).not.toMatch(/PRIVATE KEY/);
    expect(await pinOf(wrapped)).toEqual({ spki_sha256: old.spki, backend: 'ledger' });
    await stop(wrapped);

    // From now on the files are not needed: without them (PGlite) or on a replica that never had them (PostgreSQL).
    let dirB = dirA;
    if (backend === 'postgres') dirB = await newDir();
    else await Promise.all([fs.rm(path.join(dirA, 'ca'), { recursive: true }), fs.rm(path.join(dirA, 'token-pepper'))]);
    const b = await start(dirB, M, targetFor(dirA));
    expect((await b.http.get('/ca.pem')).text).toBe(caPem);
    expect((await b.http.get('/keys').set(adminHeaders)).status).toBe(200);
    expect(await fs.readdir(dirB)).not.toEqual(expect.arrayContaining(['ca', 'token-pepper']));
  });

  it('refuses to create a second CA on a ledger of the previous version whose CA files are elsewhere, even with the master key', async () => {
    const dirA = await newDir();
    const old = await previousVersionFiles(dirA);
    await previousVersionLedger(targetFor(dirA), old.pepper, { certificateIssuedBy: 'ab'.repeat(20) });
    await fs.rm(path.join(dirA, 'ca'), { recursive: true });
    const before = await ledgerSnapshot(targetFor(dirA));
    for (const env of [{}, M]) {
      const refused = await start(dirA, env).catch((e: Error) => e);
      expect((refused as Error).message).toMatch(/holds certificates or CRLs of a CA from an earlier version.*Refusing to start rather than create a second CA/);
    }
    // The start brought the schema up to date (migration 0008) and wrote nothing else.
    const after = await ledgerSnapshot(targetFor(dirA));
    const { _mtls_ca_migrations: migrated, ca_identity, master_key_versions, wrapped_secrets, rate_limits, ca_issuers, ca_issuers_version, webhooks, webhook_events, webhook_deliveries, webhook_expiry_marks, outbound_routes, client_identities, trust_anchors, registered_client_certificates, ...rest } = after;
    const { _mtls_ca_migrations: migratedBefore, ...restBefore } = before;
    expect(rest).toEqual(restBefore);
    expect(migrated.length).toBeGreaterThan(migratedBefore.length);
    // Tables the newer migrations add, all empty.
    expect({ ca_identity, master_key_versions, wrapped_secrets, rate_limits, ca_issuers }).toEqual({ ca_identity: [], master_key_versions: [], wrapped_secrets: [], rate_limits: [], ca_issuers: [] });
    // Migration 0009's version row (no issuer recorded: ca_issuers is empty).
    expect(ca_issuers_version).toHaveLength(1);
    expect({ webhooks, webhook_events, webhook_deliveries, webhook_expiry_marks, outbound_routes }).toEqual({ webhooks: [], webhook_events: [], webhook_deliveries: [], webhook_expiry_marks: [], outbound_routes: [] });
    expect({ client_identities, trust_anchors, registered_client_certificates }).toEqual({ client_identities: [], trust_anchors: [], registered_client_certificates: [] });
    expect(await fs.readdir(dirA)).not.toContain('ca');
  });
});

const postgresOnly = process.env.MTLS_CA_TEST_POSTGRES_URL ? describe : describe.skip;

postgresOnly('the CA custody of replicas on PostgreSQL without the master key', () => {
  let db: TestDatabase;
  const { running, newDir, cleanup } = workspace();
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
  });
  afterAll(() => cleanup(db));

  it('pins the first replica\'s CA files; a replica without them, with another CA, or without the pepper refuses and changes nothing', async () => {
    const dirA = await newDir();
    const a = await startOn(db.target, dirA);
    running.push(a);
    expect(await pinOf(a)).toEqual({ spki_sha256: caSpki(a), backend: 'file' });
    const before = await ledgerSnapshot(db.target);

    const empty = await startOn(db.target, await newDir()).catch((e: Error) => e);
    expect((empty as Error).message).toMatch(/keeps its private key in the files of the replica that created it/);
    expect((empty as Error).message).toMatch(/Set MTLS_CA_MASTER_KEY on every replica .* or give this replica CA_CERT_FILE\/CA_KEY_FILE and API_TOKEN_PEPPER/);
    expect((empty as Error).message).toContain(caSpki(a));

    const otherDir = await newDir();
    const other = await loadOrCreateCa({ dataDir: otherDir, subject: 'CN=Another CA', keyAlgorithm: 'ECDSA-P256', validityDays: 30 }, globalThis.crypto, systemClock, randomSerialSource);
    const otherFiles = { CA_CERT_FILE: other.certPath, CA_KEY_FILE: other.keyPath, API_TOKEN_PEPPER: 'p'.repeat(40) };
    for (const env of [otherFiles, { ...otherFiles, ...M }]) {
      const mismatch = await startOn(db.target, await newDir(), env).catch((e: Error) => e);
      const otherSpki = spkiSha256(new Uint8Array(new X509Certificate(await fs.readFile(other.certPath, 'utf8')).publicKey.rawData));
      expect((mismatch as Error).message).toMatch(/^this ledger belongs to another CA/);
      expect((mismatch as Error).message).toContain(caSpki(a));
      expect((mismatch as Error).message).toContain(otherSpki);
    }

    const sameCaNoPepper = await startOn(db.target, await newDir(), { CA_CERT_FILE: path.join(dirA, 'ca', 'ca.crt'), CA_KEY_FILE: path.join(dirA, 'ca', 'ca.key') }).catch((e: Error) => e);
    expect((sameCaNoPepper as Error).message).toMatch(/holds API keys but this replica has no token pepper/);
    expect(await ledgerSnapshot(db.target)).toEqual(before);
  });
});

postgresOnly('the CA custody of replicas on PostgreSQL with the master key', () => {
  let db: TestDatabase;
  const { running, newDir, cleanup } = workspace();
  beforeEach(async () => {
    db = await createTestDatabase('postgres');
  });
  afterEach(() => cleanup(db));

  it('replicas starting together on an empty ledger take turns: one CA, one pepper, the same /ca.pem everywhere', async () => {
    const dirs = await Promise.all([newDir(), newDir(), newDir()]);
    const replicas = await Promise.all(dirs.map((d) => startOn(db.target, d, M)));
    running.push(...replicas);
    const pems = await Promise.all(replicas.map(async (r) => (await r.http.get('/ca.pem')).text));
    expect(new Set(pems).size).toBe(1);
    const counts = await replicas[0].service.ledger.sql.query<{ purpose: string }>('SELECT purpose FROM wrapped_secrets ORDER BY purpose');
    expect(counts.map((r) => r.purpose)).toEqual(['api-token-pepper', 'ca-key']);
    const made = await replicas[1].http.post('/keys').set(adminHeaders).send({ account: 'ops', permissions: ['admin'] });
    expect((await replicas[2].http.get('/keys').set({ 'X-API-AppKey': made.body.appKey, 'X-API-AppToken': made.body.appToken })).status).toBe(200);
  });

  it('imports CA_CERT_FILE/CA_KEY_FILE into the ledger once; later replicas need neither file', async () => {
    const filesDir = await newDir();
    const given = await loadOrCreateCa({ dataDir: filesDir, subject: 'CN=Imported CA', keyAlgorithm: 'ECDSA-P384', validityDays: 30 }, globalThis.crypto, systemClock, randomSerialSource);
    const { logger, lines } = recordingLogger();
    const a = await startOn(db.target, await newDir(), { ...M, CA_CERT_FILE: given.certPath, CA_KEY_FILE: given.keyPath }, logger);
    running.push(a);
    expect(await pinOf(a)).toEqual({ spki_sha256: caSpki(a), backend: 'ledger' });
    expect(lines.map((l) => l.msg)).toContain('wrapped the CA key into the ledger with MTLS_CA_MASTER_KEY: from now on no replica needs the CA files (remove the clear key file once every replica has the master key)');
    await fs.rm(filesDir, { recursive: true });
    const dirB = await newDir();
    const b = await startOn(db.target, dirB, M);
    running.push(b);
    expect(b.service.ca.certificate.subject).toBe('CN=Imported CA');
    expect((await b.http.get('/ca.pem')).text).toBe((await a.http.get('/ca.pem')).text);
    await expectNoSecretsIn(dirB, await caPrivateBytes(b.service));
  });

  it('a replica started once with the CA files but without the master key does not move the pin off the ledger: replicas with only the master key still start', async () => {
    const filesDir = await newDir();
    const given = await loadOrCreateCa({ dataDir: filesDir, subject: 'CN=Imported CA', keyAlgorithm: 'ECDSA-P256', validityDays: 30 }, globalThis.crypto, systemClock, randomSerialSource);
    const files = { CA_CERT_FILE: given.certPath, CA_KEY_FILE: given.keyPath, API_TOKEN_PEPPER: 'a pepper the operator keeps in a secret store' };
    const a = await startOn(db.target, await newDir(), { ...M, ...files });
    running.push(a);
    expect(await pinOf(a)).toEqual({ spki_sha256: caSpki(a), backend: 'ledger' });
    const b = await startOn(db.target, await newDir(), files);
    running.push(b);
    expect(await pinOf(b)).toEqual({ spki_sha256: caSpki(a), backend: 'ledger' });
    const c = await startOn(db.target, await newDir(), M);
    running.push(c);
    expect((await c.http.get('/ca.pem')).text).toBe((await a.http.get('/ca.pem')).text);
  });
});
