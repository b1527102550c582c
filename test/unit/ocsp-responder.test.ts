import { webcrypto } from 'node:crypto';
import { X509Certificate } from '@peculiar/x509';
import pino from 'pino';
import { loadOrCreateCa } from '../../src/ca/ca-keystore';
import { EMPTY_CHAIN, extendChain } from '../../src/domain/audit-chain';
import { prepareAuditEntry, type AuditEvent } from '../../src/domain/audit-event';
import { FixedClock } from '../../src/domain/clock';
import { randomSerialSource } from '../../src/domain/serial-number';
import { OcspResponder } from '../../src/services/ocsp-responder';
import { tempDir } from '../helpers/openssl';

const crypto = webcrypto as unknown as Crypto;

describe('the OCSP responder', () => {
  it('issues its delegated signer and replaces it when a third of its lifetime is left', async () => {
    const clock = new FixedClock(new Date('2026-06-01T00:00:00Z'));
    const recorded: string[] = [];
    const audited: AuditEvent[] = [];
    const { ca } = await loadOrCreateCa({ dataDir: await tempDir(), subject: 'CN=Rotation CA', keyAlgorithm: 'ECDSA-P256', validityDays: 3650 }, crypto, clock, randomSerialSource);
    const responder = new OcspResponder({
      ca,
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
      crlNumber: () => 1n,
      clock,
      crypto,
      serials: randomSerialSource,
      logger: pino({ level: 'silent' }),
      params: { validityMs: 3600_000, signWithCa: false, signerValidityMs: 7 * 86_400_000 },
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
    await new Promise((r) => setTimeout(r, 50));
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
    const responder = new OcspResponder({
      ca,
      ledger: {
        findBySerial: async () => null,
        insert: async (_c, entry) => {
          if (!ledgerUp) throw new Error('the certificate ledger is unavailable');
          return extendChain(EMPTY_CHAIN, [entry])[0];
        },
      },
      audit: { record: async (e, commit) => void (await commit?.(prepareAuditEntry(e, clock.now()))) },
      crlNumber: () => 1n,
      clock,
      crypto,
      serials: randomSerialSource,
      logger: pino({ level: 'silent' }),
      params: { validityMs: 3600_000, signWithCa: false, signerValidityMs: 7 * 86_400_000 },
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
