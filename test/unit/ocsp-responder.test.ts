import { eventually } from '../helpers/sign';
import { createHash, webcrypto } from 'node:crypto';
import { X509Certificate } from '@peculiar/x509';
import pino from 'pino';
import { loadOrCreateCa } from '../../src/ca/ca-keystore';
import { publicKeyHash } from '../../src/ca/ocsp-signer';
import type { IssuedCertificate } from '../../src/domain/certificate';
import type { CertificateAuthority } from '../../src/ca/certificate-authority';
import { NULL, objectIdentifier, octetString, sequence, tlv } from '../../src/domain/der';
import { OCSP_OID } from '../../src/domain/ocsp';
import { EMPTY_CHAIN, extendChain } from '../../src/domain/audit-chain';
import { prepareAuditEntry, type AuditEvent } from '../../src/domain/audit-event';
import { FixedClock } from '../../src/domain/clock';
import { randomSerialSource } from '../../src/domain/serial-number';
import { OcspResponder, type OcspAnswerStatus, type OcspResponderDeps } from '../../src/services/ocsp-responder';
import { tempDir } from '../helpers/openssl';

const crypto = webcrypto as unknown as Crypto;

/** A responder over `ca` with quiet defaults: the fields given replace them. */
function responderFor(ca: CertificateAuthority, clock: FixedClock, deps: Partial<OcspResponderDeps>): OcspResponder {
  return new OcspResponder({
    ca,
    ledger: { findBySerial: async () => null, insert: async (_c, entry) => extendChain(EMPTY_CHAIN, [entry])[0] },
    audit: { record: async (e, commit) => void (await commit?.(prepareAuditEntry(e, clock.now()))) },
    revocationMark: () => null,
    clock,
    crypto,
    serials: randomSerialSource,
    logger: pino({ level: 'silent' }),
    params: { validityMs: 3600_000, signWithCa: false, signerValidityMs: 7 * 86_400_000 },
    ...deps,
  });
}

describe('the OCSP responder', () => {
  it('issues its delegated signer and replaces it when a third of its lifetime is left', async () => {
    const clock = new FixedClock(new Date('2026-06-01T00:00:00Z'));
    const recorded: string[] = [];
    const audited: AuditEvent[] = [];
    const { ca } = await loadOrCreateCa({ dataDir: await tempDir(), subject: 'CN=Rotation CA', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 }, crypto, clock, randomSerialSource);
    const responder = responderFor(ca, clock, {
      ledger: {
        findBySerial: async () => null,
        insert: async (c, entry) => {
          recorded.push(c.serialNumber);
          return extendChain(EMPTY_CHAIN, [entry])[0];
        },
      },
      audit: {
        record: async (e, commit) => {
          audited.push(e);
          await commit?.(prepareAuditEntry(e, clock.now()));
        },
      },
    });
    await responder.start();
    const first = new X509Certificate(new Uint8Array(responder.signerCertificate()!));
    expect(first.getExtension('1.3.6.1.5.5.7.48.1.5')).not.toBeNull(); // id-pkix-ocsp-nocheck
    expect(first.issuer).toBe('CN=Rotation CA');

    clock.advance(4 * 86_400_000); // 3 days left: more than a third
    await responder.respond(Buffer.from('00', 'hex'));
    expect(responder.signerCertificate()!.equals(Buffer.from(first.rawData))).toBe(true);

    clock.advance(2 * 86_400_000); // 1 day left: rotate (the old one answers while the new one is made)
    await (responder as unknown as { signer(): Promise<unknown> }).signer();
    // The replacement is made in the background: wait for it (no fixed sleep on a busy machine).
    await eventually(async () => !responder.signerCertificate()!.equals(Buffer.from(first.rawData)), 30_000, 25, 'the replaced OCSP signer');
    const second = new X509Certificate(new Uint8Array(responder.signerCertificate()!));
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(second.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
    // Both signer certificates were recorded in the ledger before use.
    expect(recorded).toEqual([first.serialNumber.toUpperCase(), second.serialNumber.toUpperCase()]);
    // …and audited as signings by the service itself.
    expect(audited.map((e) => [e.action, e.serialNumber, e.details?.purpose])).toEqual(
      recorded.map((serial) => ['certificate.sign', serial, 'ocsp-signer']),
    );
  });

  it('keeps answering with the current signer while its successor cannot be recorded (ledger down), and rotates once it is back', async () => {
    const clock = new FixedClock(new Date('2026-06-01T00:00:00Z'));
    let ledgerUp = true;
    const { ca } = await loadOrCreateCa({ dataDir: await tempDir(), subject: 'CN=Outage CA', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 }, crypto, clock, randomSerialSource);
    const responder = responderFor(ca, clock, {
      ledger: {
        findBySerial: async () => null,
        insert: async (_c, entry) => {
          if (!ledgerUp) throw new Error('the certificate ledger is unavailable');
          return extendChain(EMPTY_CHAIN, [entry])[0];
        },
      },
    });
    await responder.start();
    const first = responder.signerCertificate()!;
    const signer = (responder as unknown as { signer(): Promise<{ certificateDer: Buffer }> }).signer.bind(responder);

    ledgerUp = false;
    clock.advance(5 * 86_400_000); // 2 days left: due for rotation, still valid
    expect((await signer()).certificateDer.equals(first)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(responder.signerCertificate()!.equals(first)).toBe(true); // an unrecorded signer is never used

    ledgerUp = true; // back: the next use rotates (a failed attempt must not stick)
    await signer();
    await new Promise((r) => setTimeout(r, 100));
    expect(responder.signerCertificate()!.equals(first)).toBe(false);
  });
});

/** A one-certificate OCSP request without a nonce (SHA-1 CertID), as openssl -no_nonce sends it. */
function requestFor(ca: CertificateAuthority, serialHex: string): Buffer {
  const nameHash = createHash('sha1').update(Buffer.from(ca.certificate.subjectName.toArrayBuffer())).digest();
  const keyHash = publicKeyHash(Buffer.from(ca.certificate.publicKey.rawData));
  const certId = sequence(sequence(objectIdentifier(OCSP_OID.sha1), NULL), octetString(nameHash), octetString(keyHash), tlv(0x02, Buffer.from(serialHex, 'hex')));
  return sequence(sequence(sequence(sequence(certId))));
}

describe('the OCSP answer cache', () => {
  const clock = new FixedClock(new Date('2026-06-01T00:00:00Z'));
  const serial = '0A0B0C0D';
  let ca: CertificateAuthority;
  let revoked = false;
  let reads = 0;
  /** When set, a status read waits for it (an answer in flight). */
  let gate: Promise<void> | null = null;
  let mark: string | null = 'crl-1:0:0';
  const answers: OcspAnswerStatus[] = [];
  let responder: OcspResponder;

  beforeAll(async () => {
    ({ ca } = await loadOrCreateCa({ dataDir: await tempDir(), subject: 'CN=Cache CA', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 }, crypto, clock, randomSerialSource));
    const cert = { serialNumber: serial, issuerKeyId: ca.keyId } as IssuedCertificate;
    responder = responderFor(ca, clock, {
      ledger: {
        findBySerial: async () => {
          reads++;
          const read = { ...cert, revocation: revoked ? { revokedAt: clock.now(), reason: 'keyCompromise' as const, revokedBy: 'k' } : null };
          if (gate) await gate;
          return read;
        },
        insert: async (_c, entry) => extendChain(EMPTY_CHAIN, [entry])[0],
      },
      revocationMark: () => mark,
      params: { validityMs: 3600_000, signWithCa: true, signerValidityMs: 7 * 86_400_000 },
      observer: { ocspAnswered: (status) => answers.push(status) },
    });
    await responder.start();
  });
  beforeEach(() => {
    revoked = false;
    gate = null;
    mark = `crl-${Math.random()}:0:0`; // a fresh mark: nothing cached from an earlier test applies
  });

  const ask = async () => {
    await responder.respond(requestFor(ca, serial));
    return answers[answers.length - 1];
  };

  it('serves a repeated question from the cache while the revocation mark stays, and reads again when it moves', async () => {
    expect(await ask()).toBe('good');
    const before = reads;
    expect(await ask()).toBe('good');
    expect(reads).toBe(before); // cached
    revoked = true; // committed on another replica: this one learns it from the mark
    mark = `${mark}+1`;
    expect(await ask()).toBe('revoked');
  });

  it('caches nothing while the mark is unknown', async () => {
    mark = null;
    const before = reads;
    await ask();
    await ask();
    expect(reads).toBe(before + 2);
  });

  it('drops every cached answer when this process commits a revocation, though the mark has not moved yet', async () => {
    expect(await ask()).toBe('good');
    expect(await ask()).toBe('good');
    revoked = true;
    responder.revocationCommitted();
    expect(await ask()).toBe('revoked');
  });

  it('does not let an answer read before a revocation be cached after it (an answer in flight)', async () => {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const inFlight = ask(); // reads 'good', then waits
    await new Promise((r) => setImmediate(r));
    revoked = true;
    responder.revocationCommitted(); // the DELETE answers now
    release();
    expect(await inFlight).toBe('good'); // it was asked before the revocation
    gate = null;
    expect(await ask()).toBe('revoked'); // and what it stored is not served after it
  });
});
