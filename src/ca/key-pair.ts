import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { CaError } from '../domain/errors';
import { decodePem } from '../domain/pem';
import type { GeneratedKeyType } from '../domain/client-identity';
import type { KeyType } from './certificate-template';

const generate = promisify(generateKeyPair);

/** A private key the service holds in memory: its PKCS#8 DER and what certificates say of its public half. */
export interface HeldKey {
  readonly privateKey: KeyObject;
  readonly spkiDer: Buffer;
  readonly publicKeySha256: string;
  readonly keyType: KeyType;
  /** e.g. `EC-P-256`, `RSA-2048`. */
  readonly description: string;
}

/** Generates a key pair of one of the types the service offers (node:crypto). */
export async function generateHeldKey(type: GeneratedKeyType): Promise<HeldKey> {
  const { privateKey } =
    type === 'ec-p256' || type === 'ec-p384'
      ? await generate('ec', { namedCurve: type === 'ec-p256' ? 'prime256v1' : 'secp384r1' })
      : await generate('rsa', { modulusLength: type === 'rsa-2048' ? 2048 : 3072 });
  return describeKey(privateKey);
}

const CURVE_NAMES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** What a certificate needs of a private key; refuses key types and sizes the CA does not issue for. */
export function describeKey(privateKey: KeyObject): HeldKey {
  const details = privateKey.asymmetricKeyDetails ?? {};
  let keyType: KeyType;
  let description: string;
  if (privateKey.asymmetricKeyType === 'ec' && details.namedCurve && CURVE_NAMES[details.namedCurve]) {
    keyType = 'EC';
    description = `EC-${CURVE_NAMES[details.namedCurve]}`;
  } else if (privateKey.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= 2048 && (details.modulusLength ?? 0) <= 8192) {
    keyType = 'RSA';
    description = `RSA-${details.modulusLength}`;
  } else {
    throw new CaError('key-not-allowed', 'the private key must be RSA (2048-8192 bits) or EC on P-256, P-384 or P-521');
  }
  const spkiDer = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return { privateKey, spkiDer, publicKeySha256: createHash('sha256').update(spkiDer).digest('hex'), keyType, description };
}

/** PKCS#8 DER of a held key (to wrap, never to store in clear). */
export const pkcs8Der = (key: HeldKey): Buffer => key.privateKey.export({ type: 'pkcs8', format: 'der' });

const KEY_FORMATS: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = { 'PRIVATE KEY': 'pkcs8', 'RSA PRIVATE KEY': 'pkcs1', 'EC PRIVATE KEY': 'sec1' };

/**
 * An unencrypted private key sent as PEM (PKCS#8, PKCS#1 or SEC1; an EC PARAMETERS block before it is
 * ignored). Refused with a 400 that never quotes the key: encrypted keys, several keys, anything else.
 */
export function readPrivateKeyPem(text: string): HeldKey {
  if (/ENCRYPTED/.test(text)) throw new CaError('invalid-request', 'key: the private key is encrypted; send it unencrypted (over TLS), or import a PKCS#12 file');
  let blocks;
  try {
    blocks = decodePem(text).filter((b) => b.label !== 'EC PARAMETERS');
  } catch {
    throw new CaError('invalid-request', 'key: not valid PEM');
  }
  if (blocks.length !== 1 || !KEY_FORMATS[blocks[0].label]) {
    throw new CaError('invalid-request', 'key: send exactly one PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: blocks[0].der, format: 'der', type: KEY_FORMATS[blocks[0].label] });
  } catch {
    throw new CaError('invalid-request', `key: the ${blocks[0].label} block is not a readable private key`);
  }
  return describeKey(privateKey);
}
