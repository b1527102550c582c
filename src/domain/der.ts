/**
 * A minimal DER reader and writer: enough to take a CSR apart without re-encoding it and to
 * assemble CRLs and TBSCertificates from pre-encoded parts. Buffers in, Buffers out.
 */

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export class DerError extends Error {}

/** Reads one TLV at `offset`; only single-byte tags and definite lengths (DER). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let pos = offset + 1;
  const first = buf[pos++];
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError('indefinite length is not DER');
    if (count > 4) throw new DerError('DER length too large');
    if (pos + count > limit) throw new DerError('truncated DER');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++];
    if (length < 0x80 || (count > 1 && buf[pos - count] === 0)) throw new DerError('non-minimal DER length');
  }
  const end = pos + length;
  if (end > limit) throw new DerError('truncated DER');
  return { tag, start: offset, contentStart: pos, end };
}

/** The TLVs directly inside a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const tlv = readTlv(buf, pos, parent.end);
    out.push(tlv);
    pos = tlv.end;
  }
  return out;
}

export function slice(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.start, tlv.end - tlv.start);
}

export function content(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.contentStart, tlv.end - tlv.contentStart);
}

/** Decodes a DER OBJECT IDENTIFIER TLV to dotted form. */
export function decodeObjectIdentifier(buf: Uint8Array): string {
  const t = readTlv(buf, 0);
  if (t.tag !== 0x06 || t.end !== buf.length || t.end === t.contentStart) throw new DerError('not an OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  let start = true;
  for (let i = t.contentStart; i < t.end; i++) {
    if (start && buf[i] === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    start = false;
    value = value * 128 + (buf[i] & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError('OBJECT IDENTIFIER arc too large');
    if (!(buf[i] & 0x80)) {
      start = true;
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  if (!start) throw new DerError('truncated OBJECT IDENTIFIER');
  return arcs.join('.');
}

// ---- writer ----

export function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Bytes of the tag and length of a TLV whose content is `length` bytes (for one-pass writers). */
export function headerLength(length: number): number {
  return length < 0x80 ? 2 : length < 0x100 ? 3 : length < 0x10000 ? 4 : length < 0x1000000 ? 5 : 6;
}

/** Writes a TLV's tag and length at `p` (a buffer sized with headerLength); returns where its content starts. */
export function writeHeader(out: Uint8Array, p: number, tag: number, length: number): number {
  out[p++] = tag;
  if (length < 0x80) {
    out[p++] = length;
    return p;
  }
  const count = headerLength(length) - 2;
  out[p++] = 0x80 | count;
  for (let i = count - 1; i >= 0; i--) out[p++] = Math.floor(length / 256 ** i) & 0xff;
  return p;
}

/** Encodes a TLV from its tag and content parts (the parts are concatenated, not copied twice). */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  return Buffer.concat([Buffer.from([tag]), encodeLength(length), ...parts]);
}

export const sequence = (...parts: Uint8Array[]): Buffer => tlv(0x30, ...parts);

/** A positive INTEGER from its big-endian magnitude (adds the 00 byte when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = Buffer.from(magnitude.subarray(start));
  return body[0] & 0x80 ? tlv(0x02, Buffer.from([0]), body) : tlv(0x02, body);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0) throw new DerError('only non-negative integers');
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

export function bigInteger(value: bigint): Buffer {
  if (value < 0n) throw new DerError('only non-negative integers');
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return unsignedInteger(Buffer.from(hex, 'hex'));
}

export const octetString = (bytes: Uint8Array): Buffer => tlv(0x04, bytes);

export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), bytes);
}

export function enumerated(value: number): Buffer {
  return tlv(0x0a, Buffer.from([value]));
}

export function objectIdentifier(oid: string): Buffer {
  const given = oid.split('.').map((a) => Number.parseInt(a, 10));
  const arcs = [given[0] * 40 + given[1], ...given.slice(2)];
  const out: number[] = [];
  for (const arc of arcs) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; seconds precision, Zulu. */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(
    date.getUTCMinutes(),
  )}${pad(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${pad(y % 100)}${rest}`, 'ascii'));
  return tlv(0x18, Buffer.from(`${pad(y, 4)}${rest}`, 'ascii'));
}

export const NULL = Buffer.from([0x05, 0x00]);
