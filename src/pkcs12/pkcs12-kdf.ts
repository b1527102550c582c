import { createHash } from 'node:crypto';

/** RFC 7292 appendix B.2 purposes. */
export const KDF_KEY = 1;
export const KDF_IV = 2;
export const KDF_MAC = 3;

/** BMPString (UTF-16BE) password with two trailing zero bytes, as RFC 7292 B.1 requires; empty stays empty. */
export function bmpPassword(password: string): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

function repeatTo(source: Buffer, v: number): Buffer {
  if (source.length === 0) return Buffer.alloc(0);
  const len = v * Math.ceil(source.length / v);
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = source[i % source.length];
  return out;
}

/** PKCS#12 key derivation (RFC 7292 appendix B.2). hash: 'sha1' | 'sha256' | 'sha512'. */
export function pkcs12Kdf(hash: string, password: Buffer, salt: Buffer, id: number, iterations: number, length: number): Buffer {
  const u = createHash(hash).digest().length;
  const v = hash === 'sha512' || hash === 'sha384' ? 128 : 64;
  const d = Buffer.alloc(v, id);
  let i = Buffer.concat([repeatTo(salt, v), repeatTo(password, v)]);
  const chunks: Buffer[] = [];
  let produced = 0;
  while (produced < length) {
    let a = createHash(hash).update(d).update(i).digest();
    for (let n = 1; n < iterations; n++) a = createHash(hash).update(a).digest();
    chunks.push(a);
    produced += u;
    const b = repeatTo(a, v).subarray(0, v);
    const next = Buffer.from(i);
    for (let j = 0; j < i.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = next[j + k] + b[k] + carry;
        next[j + k] = sum & 0xff;
        carry = sum >>> 8;
      }
    }
    i = next;
  }
  return Buffer.concat(chunks).subarray(0, length);
}
