import { CaError } from './errors';

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----\r?\n?([A-Za-z0-9+/=\s]*?)-----END \1-----/g;

/** All PEM blocks in a text, in order. Text outside blocks is ignored. */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const b64 = m[2].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new CaError('malformed-csr', `the PEM ${m[1]} block is not valid base64`);
    }
    blocks.push({ label: m[1], der: Buffer.from(b64, 'base64') });
  }
  return blocks;
}

/**
 * Exactly one PEM block, or a 400 that says what is wrong. A stray BEGIN or END line around the block
 * (`BEGIN, BEGIN, …, END, END`) makes the text ambiguous: refused, not read as the inner block.
 */
export function decodeSinglePem(text: string): PemBlock {
  const blocks = decodePem(text);
  if (blocks.length === 0) throw new CaError('malformed-csr', 'the PEM text has no complete BEGIN/END block');
  if (blocks.length > 1) throw new CaError('malformed-csr', 'send exactly one PEM block');
  if ((text.match(/-----(?:BEGIN|END) /g)?.length ?? 0) !== 2) {
    throw new CaError('malformed-csr', 'the PEM text has BEGIN or END lines outside its one block; send exactly one PEM block');
  }
  if (blocks[0].der.length === 0) throw new CaError('malformed-csr', 'the PEM block is empty');
  return blocks[0];
}

/** PEM with 64-character lines; linear in memory even for a CRL of tens of MB. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64'), 'latin1');
  const lines = Math.ceil(b64.length / 64);
  const out = Buffer.allocUnsafe(b64.length + lines);
  let o = 0;
  for (let i = 0; i < b64.length; i += 64) {
    o += b64.copy(out, o, i, Math.min(i + 64, b64.length));
    out[o++] = 0x0a;
  }
  return `-----BEGIN ${label}-----\n${out.toString('latin1', 0, o)}-----END ${label}-----\n`;
}
