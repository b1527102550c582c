import { certificatePems } from '../ca/identity-certificate';
import { readPrivateKeyPem, type HeldKey } from '../ca/key-pair';
import { CaError } from '../domain/errors';

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
  throw new CaError('invalid-request', 'PKCS#12 import is not available yet');
}
