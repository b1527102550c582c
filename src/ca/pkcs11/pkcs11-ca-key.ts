import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { bitString, content, decodeObjectIdentifier, NULL, objectIdentifier, readTlv, sequence, unsignedInteger } from '../../domain/der';
import { OID } from '../../domain/oids';
import { signatureSchemeFor, verifyParts, type CaSigner } from '../ca-signer';
import type { CaKeyAlgorithm } from '../certificate-authority';
import { ckr, type Handle, type Pkcs11Attribute, type Pkcs11Binding, type Pkcs11Module } from './pkcs11-api';
import { loadBinding, openModule, Pkcs11KeyError, releaseModule } from './pkcs11-module';
import { describePkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './pkcs11-uri';
import { SessionPool } from './session-pool';

export interface Pkcs11CaKeyParams {
  /** CA_KEY_PKCS11_URI (RFC 7512). */
  readonly uri: string;
  /** CA_KEY_PKCS11_PIN; otherwise the URI's pin-value or pin-source. */
  readonly pin?: string;
  /** The key pair generated when the token has none under the URI's label/id. */
  readonly keyAlgorithm: CaKeyAlgorithm;
  /** Sessions signing at once (CA_KEY_PKCS11_SESSIONS); more signatures wait their turn. */
  readonly sessions?: number;
  /**
   * Whether a missing key pair may be generated (default true). False when the ledger already has a CA
   * or CA_CERT_FILE names one: a new key could only be refused, and would stay behind in the token.
   */
  readonly mayGenerate?: boolean;
}

const CURVES: Partial<Record<CaKeyAlgorithm, string>> = { 'ECDSA-P256': OID.p256, 'ECDSA-P384': OID.p384 };
const COORDINATE_BYTES: Record<string, number> = { [OID.p256]: 32, [OID.p384]: 48, [OID.p521]: 66 };

/**
 * Opens (or, on first use, generates inside the token) the CA key named by a PKCS#11 URI and
 * returns a CaSigner over a pool of sessions. The private key never leaves the token: it is
 * generated with CKA_SENSITIVE and without CKA_EXTRACTABLE. ECDSA signs a digest made here
 * (CKM_ECDSA; the token's raw r‖s is turned into DER), RSA with CKM_SHA256_RSA_PKCS. A sign/verify
 * self-test runs before the signer is returned.
 */
export async function openPkcs11CaKey(params: Pkcs11CaKeyParams): Promise<{ signer: CaSigner; generated: boolean }> {
  const uri = parsePkcs11Uri(params.uri);
  const pin = params.pin ?? uri.pinValue ?? (uri.pinFile ? await readPin(uri.pinFile) : undefined);
  if (pin === undefined) throw new Pkcs11KeyError('no PIN for the PKCS#11 token: set CA_KEY_PKCS11_PIN, or pin-source=file:… in CA_KEY_PKCS11_URI');
  const sessions = params.sessions ?? 4;
  if (!Number.isInteger(sessions) || sessions < 1) throw new Pkcs11KeyError('CA_KEY_PKCS11_SESSIONS must be a positive integer');
  const binding = loadBinding();
  const k = binding as unknown as Record<string, number>;
  const module = openModule(binding, uri.modulePath);
  const opened: Handle[] = [];
  try {
    const slot = findSlot(module, uri);
    const first = module.C_OpenSession(slot, k.CKF_SERIAL_SESSION | k.CKF_RW_SESSION);
    opened.push(first);
    login(module, k, first, uri, pin);
    let key = findKeyPair(module, k, first, uri);
    const generated = key === null;
    if (!key && params.mayGenerate === false) {
      throw new Pkcs11KeyError(
        `the PKCS#11 token holds no key pair matching ${describePkcs11Uri(uri)}, and none is generated for a CA that is already pinned or given in CA_CERT_FILE: check token=, object= and id=`,
      );
    }
    key ??= generateKeyPair(module, k, first, uri, params.keyAlgorithm);
    const spkiDer = readSpki(module, k, first, key.publicKey, uri);
    for (let i = 1; i < sessions; i++) opened.push(module.C_OpenSession(slot, k.CKF_SERIAL_SESSION));
    const signer = tokenSigner(module, k, new SessionPool(opened), key.privateKey, spkiDer, uri);
    await selfTest(signer, uri);
    return { signer, generated };
  } catch (e) {
    for (const session of opened) tryQuietly(() => module.C_CloseSession(session));
    releaseModule(uri.modulePath);
    throw e;
  }
}

async function readPin(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (cause) {
    throw new Pkcs11KeyError(`cannot read the PKCS#11 PIN from ${file} (pin-source of CA_KEY_PKCS11_URI)`, { cause });
  }
}

const trimmed = (s: string) => s.replace(/[\s\0]+$/, '');

function findSlot(module: Pkcs11Module, uri: Pkcs11Uri): Handle {
  const slots = module.C_GetSlotList(true);
  const seen: string[] = [];
  const matches = slots.filter((slot) => {
    const info = module.C_GetTokenInfo(slot);
    seen.push(`"${trimmed(info.label)}"`);
    return (
      (uri.token === undefined || trimmed(info.label) === uri.token) &&
      (uri.serial === undefined || trimmed(info.serialNumber) === uri.serial) &&
      (uri.manufacturer === undefined || trimmed(info.manufacturerID) === uri.manufacturer) &&
      (uri.model === undefined || trimmed(info.model) === uri.model) &&
      (uri.slotId === undefined || slot.readUIntLE(0, 6) === uri.slotId)
    );
  });
  if (matches.length === 0) {
    throw new Pkcs11KeyError(`no PKCS#11 token matches ${describePkcs11Uri(uri)} (tokens present: ${seen.join(', ') || 'none'})`);
  }
  if (matches.length > 1) throw new Pkcs11KeyError(`${matches.length} PKCS#11 tokens match ${describePkcs11Uri(uri)}: name one (serial=…)`);
  return matches[0];
}

function login(module: Pkcs11Module, k: Record<string, number>, session: Handle, uri: Pkcs11Uri, pin: string): void {
  try {
    module.C_Login(session, k.CKU_USER, pin);
  } catch (cause) {
    const code = ckr(cause);
    if (code === k.CKR_USER_ALREADY_LOGGED_IN) return;
    const token = uri.token ?? uri.serial ?? String(uri.slotId);
    if (code === k.CKR_PIN_INCORRECT) throw new Pkcs11KeyError(`wrong PIN for the PKCS#11 token ${token} (CKR_PIN_INCORRECT): check CA_KEY_PKCS11_PIN or the pin-source file`);
    if (code === k.CKR_PIN_LOCKED) throw new Pkcs11KeyError(`the PIN of the PKCS#11 token ${token} is locked (CKR_PIN_LOCKED): the security officer must reset it`);
    throw new Pkcs11KeyError(`cannot log in to the PKCS#11 token ${token}: ${(cause as Error).message}`, { cause });
  }
}

function keyTemplate(k: Record<string, number>, uri: Pkcs11Uri, cls: number): Pkcs11Attribute[] {
  const t: Pkcs11Attribute[] = [{ type: k.CKA_CLASS, value: cls }];
  if (uri.object !== undefined) t.push({ type: k.CKA_LABEL, value: uri.object });
  if (uri.id !== undefined) t.push({ type: k.CKA_ID, value: uri.id });
  return t;
}

function find(module: Pkcs11Module, session: Handle, template: Pkcs11Attribute[]): Handle[] {
  module.C_FindObjectsInit(session, template);
  try {
    return module.C_FindObjects(session, 2);
  } finally {
    module.C_FindObjectsFinal(session);
  }
}

/** The key pair under the URI's label/id, or null when the token has none. */
function findKeyPair(module: Pkcs11Module, k: Record<string, number>, session: Handle, uri: Pkcs11Uri): { privateKey: Handle; publicKey: Handle } | null {
  const privateKeys = find(module, session, keyTemplate(k, uri, k.CKO_PRIVATE_KEY));
  if (privateKeys.length === 0) return null;
  if (privateKeys.length > 1) throw new Pkcs11KeyError(`more than one private key matches ${describePkcs11Uri(uri)}: add id=… to the URI`);
  const publicKeys = find(module, session, keyTemplate(k, uri, k.CKO_PUBLIC_KEY));
  if (publicKeys.length !== 1) {
    throw new Pkcs11KeyError(`the token holds the private key ${describePkcs11Uri(uri)} but ${publicKeys.length === 0 ? 'no' : 'more than one'} public key with the same label/id`);
  }
  return { privateKey: privateKeys[0], publicKey: publicKeys[0] };
}

/** A new key pair inside the token: the private half sensitive, non-extractable, a token object. */
function generateKeyPair(
  module: Pkcs11Module,
  k: Record<string, number>,
  session: Handle,
  uri: Pkcs11Uri,
  algorithm: CaKeyAlgorithm,
): { privateKey: Handle; publicKey: Handle } {
  const naming: Pkcs11Attribute[] = [];
  if (uri.object !== undefined) naming.push({ type: k.CKA_LABEL, value: uri.object });
  naming.push({ type: k.CKA_ID, value: uri.id ?? randomBytes(16) });
  const publicTemplate: Pkcs11Attribute[] = [...naming, { type: k.CKA_TOKEN, value: true }, { type: k.CKA_VERIFY, value: true }];
  const privateTemplate: Pkcs11Attribute[] = [
    ...naming,
    { type: k.CKA_TOKEN, value: true },
    { type: k.CKA_PRIVATE, value: true },
    { type: k.CKA_SIGN, value: true },
    { type: k.CKA_SENSITIVE, value: true },
    { type: k.CKA_EXTRACTABLE, value: false },
  ];
  const curve = CURVES[algorithm];
  let mechanism: number;
  if (curve) {
    mechanism = k.CKM_EC_KEY_PAIR_GEN;
    publicTemplate.push({ type: k.CKA_EC_PARAMS, value: objectIdentifier(curve) });
  } else {
    mechanism = k.CKM_RSA_PKCS_KEY_PAIR_GEN;
    publicTemplate.push({ type: k.CKA_MODULUS_BITS, value: Number(algorithm.slice(4)) }, { type: k.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) });
  }
  try {
    return module.C_GenerateKeyPair(session, { mechanism }, publicTemplate, privateTemplate);
  } catch (cause) {
    throw new Pkcs11KeyError(`the PKCS#11 token could not generate a ${algorithm} key pair: ${(cause as Error).message}`, { cause });
  }
}

/** The public key as a SubjectPublicKeyInfo, from its PKCS#11 attributes. */
function readSpki(module: Pkcs11Module, k: Record<string, number>, session: Handle, publicKey: Handle, uri: Pkcs11Uri): Buffer {
  const [type] = module.C_GetAttributeValue(session, publicKey, [{ type: k.CKA_KEY_TYPE }]);
  // CK_ULONG in host order; key types are small, so the first bytes suffice.
  const keyType = type.value && type.value.length >= 4 ? type.value.readUInt32LE(0) : -1;
  if (keyType === k.CKK_EC) {
    const [params, point] = module.C_GetAttributeValue(session, publicKey, [{ type: k.CKA_EC_PARAMS }, { type: k.CKA_EC_POINT }]);
    const curveOid = params.value!;
    const coordinate = COORDINATE_BYTES[decodeObjectIdentifier(curveOid)];
    if (!coordinate) throw new Pkcs11KeyError(`the key ${describePkcs11Uri(uri)} is on a curve other than P-256, P-384 or P-521`);
    return sequence(sequence(objectIdentifier(OID.ecPublicKey), curveOid), bitString(ecPoint(point.value!, coordinate)));
  }
  if (keyType === k.CKK_RSA) {
    const [n, e] = module.C_GetAttributeValue(session, publicKey, [{ type: k.CKA_MODULUS }, { type: k.CKA_PUBLIC_EXPONENT }]);
    return sequence(sequence(objectIdentifier(OID.rsaEncryption), NULL), bitString(sequence(unsignedInteger(n.value!), unsignedInteger(e.value!))));
  }
  throw new Pkcs11KeyError(`the key ${describePkcs11Uri(uri)} is neither EC nor RSA`);
}

/** CKA_EC_POINT is a DER OCTET STRING around the point (some tokens give the bare point). */
function ecPoint(value: Buffer, coordinate: number): Buffer {
  const bare = 1 + 2 * coordinate;
  if (value.length === bare && value[0] === 0x04) return value;
  const t = readTlv(value, 0);
  const inner = content(value, t);
  if (t.tag !== 0x04 || t.end !== value.length || inner.length !== bare || inner[0] !== 0x04) throw new Pkcs11KeyError('the token returned an EC public point that is not an uncompressed point');
  return inner;
}

/** ECDSA r‖s (each `size` bytes) as the DER Ecdsa-Sig-Value X.509 carries. */
export function ecdsaSignatureToDer(raw: Uint8Array): Buffer {
  if (raw.length === 0 || raw.length % 2) throw new Pkcs11KeyError(`the token returned an ECDSA signature of ${raw.length} bytes`);
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

function tokenSigner(module: Pkcs11Module, k: Record<string, number>, pool: SessionPool<Handle>, privateKey: Handle, spkiDer: Buffer, uri: Pkcs11Uri): CaSigner {
  const { keyType, digest, signatureAlgorithmDer } = signatureSchemeFor(spkiDer);
  const signatureBytes = keyType === 'EC' ? 2 * 66 : 1024;
  let closed = false;
  const description = describePkcs11Uri(uri);
  return {
    spkiDer,
    digest,
    signatureAlgorithmDer,
    sign: async (parts) => {
      // ECDSA: the token signs a digest made here (large CRLs are never copied into the token).
      const input = keyType === 'EC' ? parts.reduce((h, p) => h.update(p), createHash(digest)).digest() : Buffer.concat(parts);
      const mechanism = keyType === 'EC' ? k.CKM_ECDSA : k.CKM_SHA256_RSA_PKCS;
      const signature = await pool.use(async (session) => {
        try {
          module.C_SignInit(session, { mechanism }, privateKey);
          return await module.C_SignAsync(session, input, Buffer.alloc(signatureBytes));
        } catch (cause) {
          throw new Pkcs11KeyError(`the PKCS#11 token ${description} failed to sign: ${(cause as Error).message}`, { cause });
        }
      });
      return keyType === 'EC' ? ecdsaSignatureToDer(signature) : Buffer.from(signature);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const session of await pool.drain()) tryQuietly(() => module.C_CloseSession(session));
      releaseModule(uri.modulePath);
    },
  };
}

/** Signs and verifies a random message: a key that cannot sign, or signs wrongly, stops the start. */
async function selfTest(signer: CaSigner, uri: Pkcs11Uri): Promise<void> {
  const message = randomBytes(32);
  const signature = await signer.sign([message]);
  const spki = createPublicKey({ key: signer.spkiDer, format: 'der', type: 'spki' });
  if (!verifyParts(spki, signer.digest, [message], signature)) {
    throw new Pkcs11KeyError(`the PKCS#11 key ${describePkcs11Uri(uri)} failed its sign/verify self-test: its public key does not match its private key`);
  }
}

function tryQuietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // closing what is already gone
  }
}
