import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { promises as fs } from 'node:fs';
import { SubjectKeyIdentifierExtension } from '@peculiar/x509';
import { CertificateAuthority } from './certificate-authority';
import type { CaSigner } from './ca-signer';
import { subjectKeyIdentifier } from '../domain/issuance-profile';
import { openPkcs11CaKey } from './pkcs11/pkcs11-ca-key';
import { selfSignRoot } from './root-certificate';
import type { Clock } from '../domain/clock';
import type { SerialSource } from '../domain/serial-number';
import { CaIdentityRepository } from '../store/ca-identity-repository';
import { SecretRepository } from '../store/secret-repository';
import { BULK_TIMEOUT_MS, type SqlDatabase } from '../store/sql';
import { CaLoadError } from './ca-errors';
import { defaultCaSubject, generateRootCa } from './ca-generator';
import { chainSubject, pinOrVerify, spkiSha256, type CaIdentity, type CaKeyBackend, type PinOutcome } from './ca-identity';
import { caFilesExist, caFromKeyObject, chainPemOf, generatedCaPaths, readCaFiles, readChainPem, writeCaFiles, type CaFiles, type CaKeystoreParams } from './ca-keystore';
import { DamagedSecretError, WrongMasterKeyError } from './master-key';
import { rewrapSecrets, SECRET_PURPOSE, SecretVault } from './secret-vault';
import { resolveTokenPepper, type ResolvedPepper } from './token-pepper';

export interface CaCustodyParams extends CaKeystoreParams {
  /** MTLS_CA_MASTER_KEY: keep the CA key and the pepper wrapped in the ledger. */
  readonly masterKey?: string;
  /** API_TOKEN_PEPPER. */
  readonly pepperFromEnv?: string;
  /** CA_KEY_PKCS11_URI / _PIN / _SESSIONS: the CA key lives in a PKCS#11 token. */
  readonly pkcs11?: { readonly uri: string; readonly pin?: string; readonly sessions?: number };
}

/** Where this start found its CA key. */
export type CaOrigin = 'ledger' | 'configured-files' | 'data-dir-files' | 'generated';

export interface CaCustody {
  readonly ca: CertificateAuthority;
  readonly identity: CaIdentity;
  readonly origin: CaOrigin;
  /** What happened to the ledger's pin: first recorded, matched, or updated (same key). */
  readonly pin: PinOutcome;
  /** This start wrapped the CA key into the ledger (generated, imported from CA_KEY_FILE, or adopted from the data directory). */
  readonly wrappedKeyNow: boolean;
  /** For a key kept in files: whether the file is encrypted, and where it is. */
  readonly keyFile?: { readonly path: string; readonly encrypted: boolean };
  readonly pepper: ResolvedPepper;
  /** The ledger's secret vault (with MTLS_CA_MASTER_KEY), for later features; null without the master key. */
  readonly vault: SecretVault | null;
}

interface FoundKey {
  readonly certificate: X509Certificate;
  readonly chain: readonly X509Certificate[];
  /** The private key, for keys kept in files or wrapped in the ledger; absent for a token key. */
  readonly keyObject?: KeyObject;
  /** A token key's signer (PKCS#11): the private key never leaves the token. */
  readonly signer?: CaSigner;
  readonly origin: CaOrigin;
  /** Where the key is kept from now on (a key found in files moves into the ledger when there is a vault). */
  readonly backend: CaKeyBackend;
  readonly keyFile?: { readonly path: string; readonly encrypted: boolean };
}

/**
 * Resolves this start's CA and token pepper against the ledger, under an advisory lock so that replicas
 * starting together take turns: the first start pins the CA identity, every later one must present the
 * same key. Nothing here creates a CA on a ledger that has one. One transaction: a refusal changes nothing.
 */
export async function resolveCaCustody(db: SqlDatabase, params: CaCustodyParams, crypto: Crypto, clock: Clock, serials: SerialSource): Promise<CaCustody> {
  const custody = await db.transaction(
    async (tx) => {
      const identities = new CaIdentityRepository(tx);
      await identities.lock();
      const pinned = await identities.get();
      const vault = params.masterKey ? await openVault(new SecretRepository(tx), params.masterKey, pinned) : null;
      const found = await findCaKey(params, pinned, vault, identities, crypto, clock, serials);
      const ca = await caOf(found, crypto);
      const identity: CaIdentity = {
        chainPem: chainPemOf(found.certificate, found.chain),
        spkiSha256: spkiSha256(new Uint8Array(found.certificate.publicKey.rawData)),
        backend: found.backend,
      };
      const pin = await pinOrVerify(identities, identity);
      let wrappedKeyNow = false;
      if (vault && found.keyObject && found.backend === 'ledger' && !(await vault.unwrap(SECRET_PURPOSE.caKey))) {
        await vault.wrap(SECRET_PURPOSE.caKey, found.keyObject.export({ format: 'der', type: 'pkcs8' }));
        wrappedKeyNow = true;
      }
      const pepper = await resolveTokenPepper({ dataDir: params.dataDir, fromEnv: params.pepperFromEnv, vault, hasApiKeys: await identities.hasApiKeys() });
      // A new CA kept in files is written last, still inside the transaction: if the write fails nothing is
      // pinned; if the commit fails, the next start finds the files (and no pin) and adopts them.
      if (found.keyObject && found.origin === 'generated' && found.backend === 'file') {
        await writeCaFiles(generatedCaPaths(params.dataDir), found.certificate, found.keyObject, params.passphrase);
      }
      return { ca, identity, origin: found.origin, pin, wrappedKeyNow, keyFile: found.keyFile, pepper, vault };
    },
    { timeoutMs: BULK_TIMEOUT_MS },
  );
  return { ...custody, vault: custody.vault?.on(new SecretRepository(db)) ?? null };
}

/** The token pepper alone (the `keys` command), resolved like a start does, under the same lock. */
export async function resolveLedgerPepper(db: SqlDatabase, params: Pick<CaCustodyParams, 'dataDir' | 'masterKey' | 'pepperFromEnv'>): Promise<Buffer> {
  return db.transaction(async (tx) => {
    const identities = new CaIdentityRepository(tx);
    await identities.lock();
    const vault = params.masterKey ? await openVault(new SecretRepository(tx), params.masterKey, await identities.get()) : null;
    const resolved = await resolveTokenPepper({ dataDir: params.dataDir, fromEnv: params.pepperFromEnv, vault, hasApiKeys: await identities.hasApiKeys() });
    return resolved.pepper;
  });
}

/** `mtls-ca secrets rewrap`: every wrapped secret to a new master key, in one transaction under the custody lock. */
export async function rewrapLedgerSecrets(db: SqlDatabase, oldKey: string, newKey: string): Promise<{ version: number; count: number }> {
  return db.transaction(async (tx) => {
    await new CaIdentityRepository(tx).lock();
    return rewrapSecrets(new SecretRepository(tx), oldKey, newKey);
  }, { timeoutMs: BULK_TIMEOUT_MS });
}

async function openVault(store: SecretRepository, masterKey: string, pinned: CaIdentity | null): Promise<SecretVault> {
  try {
    return await SecretVault.open(store, masterKey);
  } catch (e) {
    if (!(e instanceof WrongMasterKeyError)) throw e;
    const what = pinned?.backend === 'ledger' ? 'the CA key' : "this ledger's secrets";
    throw new CaLoadError(
      `cannot unwrap ${what}: wrong MTLS_CA_MASTER_KEY? It does not match master key version ${e.version} of this ledger. ` +
        'Give this replica the master key the other replicas use (after `mtls-ca secrets rewrap`, the new one). Refusing to start; nothing was changed.',
    );
  }
}

async function findCaKey(
  params: CaCustodyParams,
  pinned: CaIdentity | null,
  vault: SecretVault | null,
  identities: CaIdentityRepository,
  crypto: Crypto,
  clock: Clock,
  serials: SerialSource,
): Promise<FoundKey> {
  if (params.pkcs11) return fromToken(params, params.pkcs11, pinned, identities, serials, clock);
  if (params.certFile && params.keyFile) {
    return fromFiles(await readCaFiles(params.certFile, params.keyFile, params.chainFile, params.passphrase), 'configured-files', vault, pinned);
  }
  if (pinned?.backend === 'ledger') return fromLedger(pinned, vault);
  if (pinned?.backend === 'pkcs11') {
    throw new CaLoadError(`this ledger's CA "${chainSubject(pinned.chainPem)}" keeps its key in a PKCS#11 token: set CA_KEY_PKCS11_URI (and its PIN). Refusing to start.`);
  }
  const paths = generatedCaPaths(params.dataDir);
  if (await caFilesExist(paths)) return fromFiles(await readCaFiles(paths.cert, paths.key, undefined, params.passphrase), 'data-dir-files', vault, pinned);
  if (pinned) throw new CaLoadError(missingFilesMessage(pinned, params, vault !== null));
  if (await identities.hasIssued()) {
    throw new CaLoadError(
      'this ledger holds certificates or CRLs of a CA from an earlier version, but this replica has no CA ' +
        `(no CA_CERT_FILE/CA_KEY_FILE, no ca/ca.key in ${params.dataDir}): start it once with that CA ` +
        '(the data directory that holds ca/ca.key, or CA_CERT_FILE/CA_KEY_FILE) so that the ledger pins it. Refusing to start rather than create a second CA.',
    );
  }
  const root = await generateRootCa(params, crypto, clock, serials);
  if (vault) return { ...root, chain: [], origin: 'generated', backend: 'ledger' };
  return { ...root, chain: [], origin: 'generated', backend: 'file', keyFile: { path: paths.key, encrypted: Boolean(params.passphrase) } };
}

/** Builds the CA from what was found: a token key signs through its own signer, any other through its KeyObject. */
async function caOf(found: FoundKey, crypto: Crypto): Promise<CertificateAuthority> {
  if (found.keyObject) return caFromKeyObject(found.certificate, found.chain, found.keyObject, crypto);
  const signer = found.signer!;
  const spki = Buffer.from(found.certificate.publicKey.rawData);
  if (!spki.equals(signer.spkiDer)) {
    await signer.close();
    throw new CaLoadError(`the PKCS#11 token's key (SPKI SHA-256 ${spkiSha256(new Uint8Array(signer.spkiDer))}) does not match the CA certificate "${found.certificate.subject}"`);
  }
  const ski = found.certificate.getExtension(SubjectKeyIdentifierExtension);
  return new CertificateAuthority({ certificate: found.certificate, chain: found.chain, signer }, ski ? ski.keyId : subjectKeyIdentifier(spki));
}

/**
 * A CA key in a PKCS#11 token: the certificate is CA_CERT_FILE, else the ledger's pinned chain (the pin
 * check then refuses a token holding another key), else, on a ledger with no CA yet, a new self-signed
 * root made by the token key. Pinned by its public key only: no private key byte is stored anywhere.
 */
async function fromToken(
  params: CaCustodyParams,
  token: NonNullable<CaCustodyParams['pkcs11']>,
  pinned: CaIdentity | null,
  identities: CaIdentityRepository,
  serials: SerialSource,
  clock: Clock,
): Promise<FoundKey> {
  // A key is generated only where a new root would be made from it: never beside a pinned or given CA.
  const mayGenerate = !params.certFile && !pinned && !(await identities.hasIssued());
  const { signer } = await openPkcs11CaKey({ uri: token.uri, pin: token.pin, keyAlgorithm: params.keyAlgorithm, sessions: token.sessions, mayGenerate });
  try {
    if (params.certFile) {
      const { certificate, chain } = readChainPem(await fs.readFile(params.certFile, 'utf8'), params.certFile);
      const extra = params.chainFile ? readChainPem(await fs.readFile(params.chainFile, 'utf8'), params.chainFile) : null;
      return { certificate, chain: extra ? [extra.certificate, ...extra.chain] : chain, signer, origin: 'configured-files', backend: 'pkcs11' };
    }
    if (pinned) {
      const { certificate, chain } = readChainPem(pinned.chainPem, "the ledger's pinned CA chain");
      return { certificate, chain, signer, origin: 'ledger', backend: 'pkcs11' };
    }
    if (await identities.hasIssued()) {
      throw new CaLoadError('this ledger holds certificates or CRLs of a CA from an earlier version: give the token key\'s certificate in CA_CERT_FILE. Refusing to start rather than create a second CA.');
    }
    const certificate = await selfSignRoot(signer, {
      subject: params.subject ?? defaultCaSubject(),
      validityDays: params.validityDays,
      serialNumber: serials.next(),
      now: new Date(Math.floor(clock.now().getTime() / 1000) * 1000 - 60_000),
    });
    return { certificate, chain: [], signer, origin: 'generated', backend: 'pkcs11' };
  } catch (e) {
    await signer.close();
    throw e;
  }
}

/**
 * A key read from files is kept in the ledger from now on when there is a vault; and a ledger that
 * already keeps it wrapped goes on keeping it, even when this replica (without the master key) read a
 * copy from files: otherwise its pin would say `file`, and replicas holding only the master key would
 * be refused.
 */
function fromFiles(files: CaFiles, origin: CaOrigin, vault: SecretVault | null, pinned: CaIdentity | null): FoundKey {
  const backend = vault || pinned?.backend === 'ledger' ? 'ledger' : 'file';
  return { ...files, origin, backend, keyFile: { path: files.keyPath, encrypted: files.encrypted } };
}

async function fromLedger(pinned: CaIdentity, vault: SecretVault | null): Promise<FoundKey> {
  if (!vault) {
    throw new CaLoadError(
      `this ledger keeps the key of its CA "${chainSubject(pinned.chainPem)}" (key SPKI SHA-256 ${pinned.spkiSha256}) wrapped by MTLS_CA_MASTER_KEY: ` +
        'set MTLS_CA_MASTER_KEY (the same on every replica). Refusing to start.',
    );
  }
  let der: Buffer | null;
  try {
    der = await vault.unwrap(SECRET_PURPOSE.caKey);
  } catch (e) {
    if (e instanceof DamagedSecretError) throw new CaLoadError(`cannot unwrap the CA key: ${e.message}`);
    throw e;
  }
  if (!der) throw new CaLoadError('this ledger pins a CA whose key it keeps, but holds no wrapped CA key (was the wrapped_secrets table edited?). Refusing to start.');
  const { certificate, chain } = readChainPem(pinned.chainPem, 'the ledger\'s pinned CA chain');
  return { certificate, chain, keyObject: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), origin: 'ledger', backend: 'ledger' };
}

function missingFilesMessage(pinned: CaIdentity, params: CaCustodyParams, hasMasterKey: boolean): string {
  const ca = `"${chainSubject(pinned.chainPem)}" (key SPKI SHA-256 ${pinned.spkiSha256})`;
  const where: Record<CaKeyBackend, string> = { file: 'in the files of the replica that created it', ledger: 'in the ledger', pkcs11: 'in a PKCS#11 token' };
  const fix = hasMasterKey
    ? 'Start the replica that has the CA files once with this MTLS_CA_MASTER_KEY (it wraps the key into the ledger; then no replica needs files), or give this replica CA_CERT_FILE/CA_KEY_FILE (imported once).'
    : 'Set MTLS_CA_MASTER_KEY on every replica (start the replica that has the CA files once with it: it wraps the key and the pepper into the ledger), or give this replica CA_CERT_FILE/CA_KEY_FILE and API_TOKEN_PEPPER.';
  return (
    `this ledger's CA ${ca} keeps its private key ${where[pinned.backend]}, and this replica has no CA key ` +
    `(no CA_CERT_FILE/CA_KEY_FILE, no ca/ca.key in ${params.dataDir}). ${fix} Refusing to start rather than create a second CA.`
  );
}
