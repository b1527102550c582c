import { pkcs12Refusal } from './pkcs12-error';

/** RC2 decryption (RFC 2268) for the RC2-40-CBC certificate bags of `openssl pkcs12 -legacy` files: Node 20's OpenSSL 3 has no rc2 without the legacy provider. */
const PITABLE = Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32' +
    'bd8f40eb86b77b0bf09521225c6b4e8254d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
    '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed708e8eade8052eef784aa72ac354d6a2a' +
    '961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
    '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2e' +
    'c5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
);

/** The 64 16-bit subkeys of RFC 2268 section 2 for a key and an effective key length in bits. */
export function rc2KeySchedule(key: Buffer, effectiveBits: number): Uint16Array {
  if (key.length < 1 || key.length > 128 || effectiveBits < 1 || effectiveBits > 1024) throw pkcs12Refusal('invalid RC2 key', 'malformed');
  const l = Buffer.alloc(128);
  key.copy(l);
  const t = key.length;
  for (let i = t; i < 128; i++) l[i] = PITABLE[(l[i - 1] + l[i - t]) & 0xff];
  const t8 = (effectiveBits + 7) >> 3;
  const tm = 0xff >> (8 * t8 - effectiveBits);
  l[128 - t8] = PITABLE[l[128 - t8] & tm];
  for (let i = 127 - t8; i >= 0; i--) l[i] = PITABLE[l[i + 1] ^ l[i + t8]];
  const k = new Uint16Array(64);
  for (let i = 0; i < 64; i++) k[i] = l[2 * i] | (l[2 * i + 1] << 8);
  return k;
}

const ror = (x: number, s: number): number => ((x >>> s) | (x << (16 - s))) & 0xffff;

/** Decrypts one 8-byte block. */
export function rc2DecryptBlock(k: Uint16Array, block: Buffer): Buffer {
  const r = [block.readUInt16LE(0), block.readUInt16LE(2), block.readUInt16LE(4), block.readUInt16LE(6)];
  const shifts = [1, 2, 3, 5];
  let j = 63;
  for (let round = 15; round >= 0; round--) {
    for (let i = 3; i >= 0; i--) {
      r[i] = ror(r[i], shifts[i]);
      r[i] = (r[i] - k[j] - (r[(i + 3) % 4] & r[(i + 2) % 4]) - (~r[(i + 3) % 4] & r[(i + 1) % 4])) & 0xffff;
      j--;
    }
    if (round === 11 || round === 5) for (let i = 3; i >= 0; i--) r[i] = (r[i] - k[r[(i + 3) % 4] & 63]) & 0xffff;
  }
  const out = Buffer.alloc(8);
  r.forEach((v, i) => out.writeUInt16LE(v, i * 2));
  return out;
}

/** RC2-CBC decryption with PKCS#7 padding removed; bad length or padding is a 400 (wrong key or corrupted bag). */
export function rc2CbcDecrypt(key: Buffer, effectiveBits: number, iv: Buffer, data: Buffer): Buffer {
  if (data.length === 0 || data.length % 8 !== 0 || iv.length !== 8) throw pkcs12Refusal('RC2-CBC data is not a whole number of blocks', 'malformed');
  const k = rc2KeySchedule(key, effectiveBits);
  const out = Buffer.alloc(data.length);
  let prev = iv;
  for (let o = 0; o < data.length; o += 8) {
    const c = data.subarray(o, o + 8);
    const p = rc2DecryptBlock(k, c);
    for (let i = 0; i < 8; i++) out[o + i] = p[i] ^ prev[i];
    prev = c;
  }
  const pad = out[out.length - 1];
  if (pad < 1 || pad > 8 || !out.subarray(out.length - pad).every((b) => b === pad)) throw pkcs12Refusal('RC2-CBC padding is invalid (wrong password or corrupted bag)', 'wrong-password');
  return out.subarray(0, out.length - pad);
}
