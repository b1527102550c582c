import type { X509Certificate } from 'node:crypto';
import { certificatePems } from '../ca/identity-certificate';
import { describeKey, readPrivateKeyPem, type HeldKey } from '../ca/key-pair';
import { CaError } from '../domain/errors';
import { encodePem } from '../domain/pem';
import { decodePkcs12OffThread } from '../pkcs12/pkcs12-decode-off-thread';

/** A key and the certificates brought with it (leaf first), read but not yet checked against each other. */
export interface ImportedMaterial {
  readonly key: HeldKey;
  readonly certificatePem: string;
  readonly chainPems: readonly string[];
}

/** PEM text: the certificate (optionally followed by its chain), an unencrypted key, the chain as one text or a list. */
export interface PemImport {
  readonly certificate: string;
  readonly key: string;
  readonly chain?: string | readonly string[];
}

/** What an import brings: PEM texts, or a PKCS#12 file and its password. */
export type ImportSource = { readonly pem: PemImport } | { readonly pkcs12: { readonly data: Buffer; readonly password: string } };

/** Leaf first, then the rest of the chain, each a PEM CERTIFICATE of its own. */
export function certificatesOf(certificate: string, chain: string | readonly string[] | undefined): [string, string[]] {
  const leading = certificatePems(certificate, 'certificate');
  if (leading.length === 0) throw new CaError('invalid-request', 'certificate: no PEM CERTIFICATE block');
  const rest = (chain === undefined ? [] : typeof chain === 'string' ? [chain] : chain).flatMap((text, i) => certificatePems(text, typeof chain === 'string' ? 'chain' : `chain[${i}]`));
  return [leading[0], [...leading.slice(1), ...rest]];
}

/** Reads what an import brings; the service then checks that the key and certificate belong together. */
export async function readImport(source: ImportSource): Promise<ImportedMaterial> {
  if ('pem' in source) {
    const [certificatePem, chainPems] = certificatesOf(source.pem.certificate, source.pem.chain);
    return { key: readPrivateKeyPem(source.pem.key), certificatePem, chainPems };
  }
  return pkcs12Material(source.pkcs12.data, source.pkcs12.password);
}

/**
 * The one key of a PKCS#12 file, the certificate for it, and the certificates above it in issuing order
 * (others in the file, e.g. unrelated trust anchors, are left out). A wrong password or an unreadable
 * file is a 422 invalid-pkcs12 (decodePkcs12).
 */
async function pkcs12Material(data: Buffer, password: string): Promise<ImportedMaterial> {
  const contents = await decodePkcs12OffThread(data, password);
  if (contents.keys.length !== 1) throw new CaError('invalid-request', `the PKCS#12 file holds ${contents.keys.length} private keys; export exactly one identity into it`);
  const key = describeKey(contents.keys[0].privateKey);
  const spki = (c: X509Certificate) => c.publicKey.export({ type: 'spki', format: 'der' });
  const certificates = contents.certificates.map((c) => c.certificate);
  const leaf = certificates.find((c) => spki(c).equals(key.spkiDer));
  if (!leaf) throw new CaError('invalid-request', 'the PKCS#12 file holds no certificate for its private key');
  const chain: X509Certificate[] = [];
  let rest = certificates.filter((c) => c !== leaf);
  for (let below = leaf; ; ) {
    const above = rest.find((c) => below.checkIssued(c) && below.verify(c.publicKey) && !c.raw.equals(below.raw));
    if (!above) break;
    chain.push(above);
    rest = rest.filter((c) => c !== above);
    below = above;
  }
  return { key, certificatePem: encodePem('CERTIFICATE', leaf.raw), chainPems: chain.map((c) => encodePem('CERTIFICATE', c.raw)) };
}
