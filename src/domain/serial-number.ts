import { randomFillSync } from 'node:crypto';
import { CaError } from './errors';

/** Source of certificate serial numbers: 16 bytes, positive, first byte non-zero (always 16 DER bytes). */
export interface SerialSource {
  next(): Uint8Array;
}

export const SERIAL_BYTES = 16;

/** Serials drawn from the CSPRNG this many at a time: one call into OpenSSL per 256 certificates instead of one each. */
const POOLED_SERIALS = 256;

/** Random serials (CSPRNG; 127 random bits, first byte non-zero). Each serial's bytes are a fresh copy, used once. */
export function pooledRandomSerialSource(): SerialSource {
  const pool = Buffer.alloc(SERIAL_BYTES * POOLED_SERIALS);
  let at = pool.length;
  return {
    next(): Uint8Array {
      if (at === pool.length) {
        randomFillSync(pool);
        at = 0;
      }
      const bytes = new Uint8Array(pool.subarray(at, at + SERIAL_BYTES));
      pool.fill(0, at, at + SERIAL_BYTES); // handed out once: nothing of it stays behind
      at += SERIAL_BYTES;
      bytes[0] = bytes[0] & 0x7f || 0x01; // positive and minimal: never a leading 0x00 byte
      return bytes;
    },
  };
}

export const randomSerialSource: SerialSource = pooledRandomSerialSource();

/** Canonical form: uppercase hex of the integer, even length, no colons, no redundant leading zero bytes. */
export function serialToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

const SERIAL_INPUT = /^(?:[0-9a-fA-F]{1,2})(?::[0-9a-fA-F]{1,2})*$|^[0-9a-fA-F]+$/;

/**
 * Normalises a serial number as a user may type it: `4D0A0A39…` or `4d:0a:0a:39:…`,
 * case-insensitive, leading zeros tolerated. Returns the canonical uppercase hex.
 */
export function normalizeSerialNumber(input: string): string {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 128 || !SERIAL_INPUT.test(trimmed)) {
    throw new CaError('invalid-serial-number', 'serial number must be hexadecimal, optionally with colons between bytes');
  }
  const hex = trimmed
    .split(':')
    .map((part) => (trimmed.includes(':') ? part.padStart(2, '0') : part))
    .join('')
    .toUpperCase()
    .replace(/^0+/, '');
  if (hex.length === 0) throw new CaError('invalid-serial-number', 'serial number must not be zero');
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  // A positive DER INTEGER whose top bit is set carries a 00 byte in front.
  const canonical = parseInt(even[0], 16) >= 8 ? `00${even}` : even;
  if (canonical.length > 40) throw new CaError('invalid-serial-number', 'serial number is longer than 20 bytes');
  return canonical;
}
