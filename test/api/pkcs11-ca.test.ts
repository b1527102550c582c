import { promises as fs } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { CertificateAuthority } from '../../src/ca/certificate-authority';
import { openPkcs11CaKey } from '../../src/ca/pkcs11/pkcs11-ca-key';
import { selfSignRoot } from '../../src/ca/root-certificate';
import type { CaSigner } from '../../src/ca/ca-signer';
import { systemClock } from '../../src/domain/clock';
import { subjectKeyIdentifier } from '../../src/domain/issuance-profile';
import { IssuanceProfile } from '../../src/domain/issuance-profile';
import { NO_ORIGIN } from '../../src/domain/audit-event';
import { randomSerialSource } from '../../src/domain/serial-number';
import { AuditTrail } from '../../src/services/audit-trail';
import { CrlPublisher } from '../../src/services/crl-publisher';
import { OcspResponder } from '../../src/services/ocsp-responder';
import { SigningService } from '../../src/services/signing-service';
import { openLedger, type Ledger } from '../../src/store/ledger';
import { backends, createTestDatabase, type TestDatabase } from '../helpers/backends';
import { makeCsr, openssl, opensslStatus, tempDir } from '../helpers/openssl';
import { initToken, softHsmUnavailable, tokenUri, TOKEN_PIN, useSoftHsmDirectory } from '../helpers/softhsm';

const unavailable = softHsmUnavailable();
if (!unavailable) useSoftHsmDirectory();
const describeHsm = unavailable ? describe.skip : describe;
if (unavailable) process.stdout.write(`\nPKCS#11 end-to-end tests skipped: ${unavailable}\n`);

const admin = { appKey: 'hsm-admin', account: 'mtls-ca', permissions: new Set(['admin'] as const) };

/**
 * The CA is put together by hand here (openPkcs11CaKey + selfSignRoot + the services): what
 * startService does with CA_KEY_PKCS11_URI is wired with the CA custody work.
 */
describeHsm.each(backends())(`a CA whose key lives in SoftHSM2, on %s${unavailable ? ` (skipped: ${unavailable})` : ''}`, (backend) => {
  let signer: CaSigner;
  let ca: CertificateAuthority;
  let db: TestDatabase;
  let ledger: Ledger;
  /** The service's data directory (the embedded ledger); `work` holds the test's own files (client keys, PEMs). */
  let dataDir: string;
  let work: string;
  let signing: SigningService;
  let crl: CrlPublisher;
  const logger = pino({ level: 'silent' });

  const responder = (signWithCa: boolean, audit: AuditTrail) =>
    new OcspResponder({
      ca,
      ledger: ledger.certificates,
      revocationMark: () => crl.revocationMark(),
      clock: systemClock,
      crypto: globalThis.crypto,
      serials: randomSerialSource,
      logger,
      audit,
      params: { validityMs: 3_600_000, signWithCa, signerValidityMs: 7 * 86_400_000 },
    });
  let audit: AuditTrail;

  beforeAll(async () => {
    initToken(`ca-${backend}`);
    dataDir = await tempDir();
    work = await tempDir();
    ({ signer } = await openPkcs11CaKey({ uri: tokenUri(`ca-${backend}`, 'root'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256', sessions: 2 }));
    const certificate = await selfSignRoot(signer, { subject: 'CN=HSM Root CA,O=mtls-ca', validityDays: 3650, serialNumber: randomSerialSource.next(), now: new Date() });
    ca = new CertificateAuthority({ certificate, chain: [], signer }, subjectKeyIdentifier(signer.spkiDer));
    db = await createTestDatabase(backend);
    ledger = await openLedger(db.target.kind === 'pglite' ? { kind: 'pglite', dataDir: path.join(dataDir, 'db') } : db.target);
    audit = new AuditTrail(ledger.audit, systemClock, logger);
    const profile = new IssuanceProfile({ validityDays: 365, maxValidityDays: 825, backdateSeconds: 300, publicBaseUrl: 'http://ca.test' });
    signing = new SigningService({ ca, profile, ledger: ledger.certificates, clock: systemClock, serials: randomSerialSource, audit });
    crl = new CrlPublisher({ ca, store: ledger.crls, clock: systemClock, logger, params: { validityMs: 86_400_000, refreshMs: 21_600_000, pollMs: 200, debounceMs: 10 } });
    await crl.start();
    await fs.writeFile(path.join(work, 'ca.pem'), ca.chainPem);
  }, 60_000);

  afterAll(async () => {
    crl?.stop();
    await audit?.drain();
    await ledger?.close();
    await db?.drop();
    await signer?.close();
  });

  it('issues a certificate that openssl verifies against the self-signed root made in the token', async () => {
    const { csr } = await makeCsr(work, 'app', '/CN=erp-connector/OU=acme/C=BR');
    const issued = await signing.sign(admin, csr, NO_ORIGIN);
    await fs.writeFile(path.join(work, 'app.crt'), issued.pem);
    const root = await opensslStatus(['verify', '-CAfile', 'ca.pem', 'ca.pem'], work);
    expect(root.output).toContain('ca.pem: OK');
    const leaf = await opensslStatus(['verify', '-CAfile', 'ca.pem', 'app.crt'], work);
    expect(leaf.output).toContain('app.crt: OK');
    expect(leaf.code).toBe(0);
  });

  it('signs CRLs through the token: openssl verifies the CRL and refuses the revoked certificate', async () => {
    const { csr } = await makeCsr(work, 'revoked', '/CN=gone/OU=acme');
    const issued = await signing.sign(admin, csr, NO_ORIGIN);
    await fs.writeFile(path.join(work, 'revoked.crt'), issued.pem);
    await ledger.certificates.revoke(issued.serialNumber, { revokedAt: new Date(), reason: 'keyCompromise', revokedBy: 'test' });
    await crl.rebuild();
    await fs.writeFile(path.join(work, 'crl.pem'), crl.current()!.pem);
    const checked = await opensslStatus(['crl', '-in', 'crl.pem', '-CAfile', 'ca.pem', '-noout'], work);
    expect(checked.output).toMatch(/verify OK/);
    const refused = await opensslStatus(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', 'revoked.crt'], work);
    expect(refused.output).toMatch(/certificate revoked/);
    expect(refused.code).not.toBe(0);
    const valid = await opensslStatus(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', 'app.crt'], work);
    expect(valid.output).toContain('app.crt: OK');
  });

  it.each([
    ['a delegated OCSP signer whose certificate the token signed', false],
    ['the CA key itself (OCSP_SIGN_WITH_CA)', true],
  ])('answers OCSP through %s, verified by openssl', async (_how, signWithCa) => {
    const ocsp = responder(signWithCa, audit);
    await ocsp.start();
    for (const [cert, status] of [
      ['app.crt', 'good'],
      ['revoked.crt', 'revoked'],
    ]) {
      await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', cert, '-no_nonce', '-reqout', 'req.der'], { cwd: work });
      await fs.writeFile(path.join(work, 'resp.der'), await ocsp.respond(await fs.readFile(path.join(work, 'req.der'))));
      const r = await opensslStatus(['ocsp', '-respin', 'resp.der', '-issuer', 'ca.pem', '-cert', cert, '-CAfile', 'ca.pem'], work);
      expect(r.output).toContain('Response verify OK');
      expect(r.output).toContain(`${cert}: ${status}`);
    }
    expect(ocsp.signerCertificate() === null).toBe(signWithCa);
  });

  it('keeps no private key byte in the data directory', async () => {
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(p);
        else files.push(p);
      }
    };
    await walk(dataDir);
    if (backend === 'pglite') expect(files.length).toBeGreaterThan(0); // the embedded ledger is there
    for (const file of files) {
      const bytes = await fs.readFile(file);
      expect({ file, pem: bytes.includes('PRIVATE KEY') }).toEqual({ file, pem: false });
      // A PKCS#8 EC private key in DER begins SEQUENCE, INTEGER 0, AlgorithmIdentifier id-ecPublicKey.
      expect({ file, der: bytes.includes(Buffer.from('020100301306072a8648ce3d0201', 'hex')) }).toEqual({ file, der: false });
    }
    expect(files.filter((f) => f.endsWith('.key'))).toEqual([]);
  });
});
