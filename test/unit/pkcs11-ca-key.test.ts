import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openPkcs11CaKey } from '../../src/ca/pkcs11/pkcs11-ca-key';
import { Pkcs11KeyError } from '../../src/ca/pkcs11/pkcs11-module';
import { initToken, softHsmModule, softHsmUnavailable, tokenUri, TOKEN_PIN, useSoftHsmDirectory } from '../helpers/softhsm';

const unavailable = softHsmUnavailable();
const hsmDir = unavailable ? '' : useSoftHsmDirectory();
const describeHsm = unavailable ? describe.skip : describe;
if (unavailable) process.stdout.write(`\nPKCS#11 tests skipped: ${unavailable}\n`);

/** pkcs11js straight, to look at what the token holds. */
function inspectKey(label: string): { extractable: boolean; sensitive: boolean; token: boolean; valueError: string } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const p = require('pkcs11js');
  const m = new p.PKCS11();
  m.load(softHsmModule());
  m.C_Initialize();
  try {
    const slot = m.C_GetSlotList(true).find((s: Buffer) => m.C_GetTokenInfo(s).label.trim() === 'keys');
    const session = m.C_OpenSession(slot, p.CKF_SERIAL_SESSION);
    m.C_Login(session, p.CKU_USER, TOKEN_PIN);
    m.C_FindObjectsInit(session, [{ type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY }, { type: p.CKA_LABEL, value: label }]);
    const [key] = m.C_FindObjects(session, 1);
    m.C_FindObjectsFinal(session);
    const attrs = m.C_GetAttributeValue(session, key, [{ type: p.CKA_EXTRACTABLE }, { type: p.CKA_SENSITIVE }, { type: p.CKA_TOKEN }]);
    let valueError = 'none: the value was returned';
    try {
      m.C_GetAttributeValue(session, key, [{ type: p.CKA_VALUE }]);
    } catch (e) {
      valueError = (e as Error).message;
    }
    const flag = (i: number) => attrs[i].value[0] === 1;
    return { extractable: flag(0), sensitive: flag(1), token: flag(2), valueError };
  } finally {
    m.C_Finalize();
    m.close();
  }
}

describeHsm(unavailable ? `a CA key in a PKCS#11 token (skipped: ${unavailable})` : 'a CA key in a PKCS#11 token (SoftHSM2)', () => {
  beforeAll(() => {
    initToken('keys');
    initToken('other');
  });

  it('generates a non-extractable P-256 key pair in the token on first open, and uses the same key afterwards', async () => {
    const first = await openPkcs11CaKey({ uri: tokenUri('keys', 'ca-p256'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256' });
    expect(first.generated).toBe(true);
    const spki = first.signer.spkiDer;
    expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(first.signer.digest).toBe('sha256');
    await first.signer.close();

    const attributes = inspectKey('ca-p256');
    expect(attributes).toEqual({ extractable: false, sensitive: true, token: true, valueError: expect.stringMatching(/CKR_ATTRIBUTE_SENSITIVE/) });

    const again = await openPkcs11CaKey({ uri: tokenUri('keys', 'ca-p256'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256' });
    try {
      expect(again.generated).toBe(false);
      expect(again.signer.spkiDer.equals(spki)).toBe(true);
    } finally {
      await again.signer.close();
    }
  });

  it.each([
    ['ECDSA-P384', 'sha384'],
    ['RSA-2048', 'sha256'],
  ] as const)('generates a %s key whose signatures (over several parts) verify', async (keyAlgorithm, digest) => {
    const { signer } = await openPkcs11CaKey({ uri: tokenUri('keys', `ca-${keyAlgorithm}`), pin: TOKEN_PIN, keyAlgorithm });
    try {
      expect(signer.digest).toBe(digest);
      const parts = [randomBytes(100), randomBytes(3000), randomBytes(1)];
      const signature = await signer.sign(parts);
      const key = createPublicKey({ key: signer.spkiDer, format: 'der', type: 'spki' });
      expect(verify(digest, Buffer.concat(parts), { key, dsaEncoding: 'der' }, signature)).toBe(true);
    } finally {
      await signer.close();
    }
  });

  it('signs 50 things at once through a pool of 3 sessions, every signature valid', async () => {
    const { signer } = await openPkcs11CaKey({ uri: tokenUri('keys', 'ca-p256'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256', sessions: 3 });
    try {
      const messages = Array.from({ length: 50 }, () => randomBytes(200));
      const signatures = await Promise.all(messages.map((m) => signer.sign([m])));
      const key = createPublicKey({ key: signer.spkiDer, format: 'der', type: 'spki' });
      expect(signatures.filter((s, i) => verify('sha256', messages[i], { key, dsaEncoding: 'der' }, s))).toHaveLength(50);
    } finally {
      await signer.close();
    }
    await expect(signer.sign([Buffer.from('after close')])).rejects.toThrow(/closed/);
  });

  it('generates nothing when told not to (a ledger that already pins its CA): the token is left as it was', async () => {
    const error = await openPkcs11CaKey({ uri: tokenUri('keys', 'ca-typo'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256', mayGenerate: false }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Pkcs11KeyError);
    expect((error as Error).message).toMatch(/holds no key pair matching .*object=ca-typo.*already pinned/);
    expect(() => inspectKey('ca-typo')).toThrow();
  });

  it('reads the PIN from the URI pin-source file', async () => {
    const pinFile = path.join(hsmDir, 'pin');
    await fs.writeFile(pinFile, `${TOKEN_PIN}\n`, { mode: 0o600 });
    const { signer, generated } = await openPkcs11CaKey({ uri: tokenUri('keys', 'ca-p256', `&pin-source=file:${pinFile}`), keyAlgorithm: 'ECDSA-P256' });
    expect(generated).toBe(false);
    await signer.close();
  });

  it('refuses a wrong PIN with CKR_PIN_INCORRECT, never echoing the PIN', async () => {
    const error = await openPkcs11CaKey({ uri: tokenUri('keys', 'ca-p256'), pin: '98765', keyAlgorithm: 'ECDSA-P256' }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Pkcs11KeyError);
    expect((error as Error).message).toMatch(/wrong PIN for the PKCS#11 token keys \(CKR_PIN_INCORRECT\)/);
    expect((error as Error).message).not.toContain('98765');
  });

  it('names a missing token, a missing module and a missing PIN', async () => {
    await expect(openPkcs11CaKey({ uri: tokenUri('nope', 'ca'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256' })).rejects.toThrow(
      /no PKCS#11 token matches pkcs11:token=nope;object=ca.*tokens present: .*"keys"/,
    );
    await expect(openPkcs11CaKey({ uri: 'pkcs11:token=keys;object=ca?module-path=/nonexistent/libnothing.so', pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256' })).rejects.toThrow(
      /PKCS#11 module \/nonexistent\/libnothing.so .*does not exist/,
    );
    await expect(openPkcs11CaKey({ uri: tokenUri('keys', 'ca'), keyAlgorithm: 'ECDSA-P256' })).rejects.toThrow(/no PIN for the PKCS#11 token/);
  });

  it('fails the start when the key pair does not sign/verify (private and public halves that do not belong together)', async () => {
    // Two pairs made in the token; the label "mixed" then names the private key of one and the public key of the other.
    const a = await openPkcs11CaKey({ uri: tokenUri('other', 'mixed'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256' });
    await a.signer.close();
    const b = await openPkcs11CaKey({ uri: tokenUri('other', 'b'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256' });
    await b.signer.close();
    relabelPublicKeys('other', [
      ['mixed', 'mixed-old'],
      ['b', 'mixed'],
    ]);
    await expect(openPkcs11CaKey({ uri: tokenUri('other', 'mixed'), pin: TOKEN_PIN, keyAlgorithm: 'ECDSA-P256' })).rejects.toThrow(/failed its sign\/verify self-test/);
  });

  it('says so when pkcs11js is not installed', () => {
    jest.isolateModules(() => {
      jest.doMock('pkcs11js', () => {
        throw new Error("Cannot find module 'pkcs11js'");
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { loadBinding } = require('../../src/ca/pkcs11/pkcs11-module');
      expect(() => loadBinding()).toThrow(/needs the optional dependency pkcs11js, which is not installed/);
    });
  });
});

function relabelPublicKeys(token: string, renames: Array<[string, string]>): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const p = require('pkcs11js');
  const m = new p.PKCS11();
  m.load(softHsmModule());
  m.C_Initialize();
  try {
    const slot = m.C_GetSlotList(true).find((s: Buffer) => m.C_GetTokenInfo(s).label.trim() === token);
    const session = m.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    m.C_Login(session, p.CKU_USER, TOKEN_PIN);
    for (const [from, to] of renames) {
      m.C_FindObjectsInit(session, [{ type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY }, { type: p.CKA_LABEL, value: from }]);
      const [key] = m.C_FindObjects(session, 1);
      m.C_FindObjectsFinal(session);
      m.C_SetAttributeValue(session, key, [{ type: p.CKA_LABEL, value: to }]);
    }
  } finally {
    m.C_Finalize();
    m.close();
  }
}
