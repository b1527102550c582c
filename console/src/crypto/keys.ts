import * as x509 from '@peculiar/x509';

/** Key types the CA signs (its CSR policy): ECDSA on P-256/P-384, RSA 2048/3072. */
export const KEY_TYPES = {
  'ec-p256': { label: 'ECDSA P-256', generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  'ec-p384': { label: 'ECDSA P-384', generate: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  'rsa-2048': {
    label: 'RSA 2048',
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  },
  'rsa-3072': {
    label: 'RSA 3072',
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  },
} as const;

export type KeyType = keyof typeof KEY_TYPES;

/** What the CA accepts in CN and OU (its policy, checked here before sending). */
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface GeneratedRequest {
  readonly keys: CryptoKeyPair;
  readonly csrPem: string;
}

/**
 * A key pair made in this browser (WebCrypto; the private key is extractable only so that this page can
 * put it in the PKCS#12 or PEM the user downloads — it is never sent) and a CSR for CN/OU signed with it.
 */
export async function generateRequest(keyType: KeyType, commonName: string, account: string): Promise<GeneratedRequest> {
  const type = KEY_TYPES[keyType];
  const keys = (await crypto.subtle.generateKey(type.generate, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ OU: [account] }, { CN: [commonName] }],
    keys,
    signingAlgorithm: type.sign,
  });
  return { keys, csrPem: csr.toString('pem') };
}

export function pemOf(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** The DER of each PEM block of `label` in `text`, in order. */
export function derBlocks(text: string, label = 'CERTIFICATE'): ArrayBuffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`, 'g');
  return [...text.matchAll(re)].map((m) => {
    const bin = atob(m[1].replace(/\s+/g, ''));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  });
}

export async function sha256Fingerprint(der: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', der));
  return [...digest].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

/** A serial number in hex (as the API and openssl show it) and in decimal (as Java and browsers show it). */
export function serialForms(hex: string): { hex: string; decimal: string } {
  return { hex, decimal: BigInt(`0x${hex}`).toString(10) };
}

export function download(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
