/**
 * Issuance (prepare → check → sign) per second, in-process, with the CA key as a file key
 * (node:crypto KeyObject) and in SoftHSM2 (PKCS#11, a pool of sessions): what a token costs.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keyObjectSigner, type CaSigner } from '../../src/ca/ca-signer';
import { CertificateAuthority } from '../../src/ca/certificate-authority';
import { Issuer } from '../../src/ca/issuer';
import { openPkcs11CaKey } from '../../src/ca/pkcs11/pkcs11-ca-key';
import { selfSignRoot } from '../../src/ca/root-certificate';
import { encodeSubject } from '../../src/ca/subject-name';
import { IssuanceProfile, subjectKeyIdentifier } from '../../src/domain/issuance-profile';
import { randomSerialSource } from '../../src/domain/serial-number';
import type { Row } from '../lib/report';

const SOFTHSM_MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'].find((m) => existsSync(m));
const CONCURRENCY = 32;

/** Issues certificates with `CONCURRENCY` in flight for `ms`; certificates per second and latency percentiles. */
async function issueRate(signer: CaSigner, ms: number): Promise<{ rate: number; p50: number; p99: number }> {
  const certificate = await selfSignRoot(signer, { subject: 'CN=bench CA', validityDays: 3650, serialNumber: randomSerialSource.next(), now: new Date() });
  const ca = new CertificateAuthority({ certificate, chain: [], signer }, subjectKeyIdentifier(signer.spkiDer));
  const profile = new IssuanceProfile({ validityDays: 365, maxValidityDays: 825, backdateSeconds: 300, publicBaseUrl: 'https://ca.example' });
  const issuer = new Issuer(ca, profile);
  const spkiDer = (generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey as KeyObject).export({ format: 'der', type: 'spki' });
  const request = { subjectDer: encodeSubject({ CN: 'erp-connector', OU: 'acme', C: 'BR' }), spkiDer, keyType: 'RSA' as const };
  const latencies: number[] = [];
  const until = Date.now() + ms;
  const worker = async () => {
    while (Date.now() < until) {
      const t = process.hrtime.bigint();
      await issuer.sign(issuer.prepare(request, randomSerialSource.next(), profile.validity(new Date(), ca.notAfter)));
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 100) / 100;
  return { rate: latencies.length / ((Date.now() - started) / 1000), p50: at(0.5), p99: at(0.99) };
}

export async function caSignerScenario(opts: { seconds: number; rawRate1: number }): Promise<Row[]> {
  const ms = Math.max(1000, opts.seconds * 500);
  const rows: Row[] = [];
  const file = await issueRate(keyObjectSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), ms);
  rows.push({
    scenario: `issuance in-process (prepare → check → sign), P-256 CA, file key (KeyObject), ${CONCURRENCY} in flight`,
    result: `${Math.round(file.rate)} certs/s`,
    p50: `${file.p50} ms`,
    p99: `${file.p99} ms`,
    target: '(reference)',
    met: null,
    ratio: `${(file.rate / opts.rawRate1).toFixed(3)} of raw 1-core ECDSA sign`,
    raw: { ...file },
  });
  let softhsmMissing: string | null = null;
  try {
    require('pkcs11js');
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    if (!SOFTHSM_MODULE) softhsmMissing = 'no libsofthsm2.so';
  } catch {
    softhsmMissing = 'pkcs11js or softhsm2-util missing';
  }
  if (softhsmMissing) {
    rows.push({ scenario: 'issuance in-process, P-256 CA key in SoftHSM2 (PKCS#11)', result: `skipped: ${softhsmMissing}`, target: '(comparison)', met: null });
    return rows;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mtls-ca-bench-hsm-'));
  await fs.mkdir(path.join(dir, 'tokens'));
  await fs.writeFile(path.join(dir, 'softhsm2.conf'), `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = path.join(dir, 'softhsm2.conf');
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'], { stdio: 'ignore' });
    for (const sessions of [1, 4]) {
      const { signer } = await openPkcs11CaKey({ uri: `pkcs11:token=bench;object=ca?module-path=${SOFTHSM_MODULE}`, pin: '1234', keyAlgorithm: 'ECDSA-P256', sessions });
      try {
        const hsm = await issueRate(signer, ms);
        rows.push({
          scenario: `issuance in-process, P-256 CA key in SoftHSM2 (PKCS#11, ${sessions} session${sessions > 1 ? 's' : ''}), ${CONCURRENCY} in flight`,
          result: `${Math.round(hsm.rate)} certs/s; SoftHSM2 / file key = ${(hsm.rate / file.rate).toFixed(2)}`,
          p50: `${hsm.p50} ms`,
          p99: `${hsm.p99} ms`,
          target: '(comparison)',
          met: null,
          ratio: `${(hsm.rate / opts.rawRate1).toFixed(3)} of raw 1-core ECDSA sign`,
          raw: { ...hsm, sessions },
        });
      } finally {
        await signer.close();
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return rows;
}
