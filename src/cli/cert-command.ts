import { readFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { buildCsrPem, CliError, generateKeyPem, issuedFrom, send, type Issued, type KeyType } from './cert-client';
import { writeFileAtomic } from './cert-files';
import { runRenewDaemon } from './renew-daemon';
import { encodePkcs12 } from '../pkcs12';

const HELP = `mtls-ca cert — obtain and renew a client certificate

usage:
  mtls-ca cert request --url URL --cn NAME [--ou ACCOUNT] [--key-type ec-p256|rsa-2048] [--out DIR]
        API key from MTLS_CA_APP_KEY and MTLS_CA_APP_TOKEN; the key is generated here and never sent.
        Writes DIR/<cn>.key (0600), DIR/<cn>.crt and DIR/ca-chain.pem.
  mtls-ca cert renew --url https://HOST:HTTPS_PORT --cert FILE --key FILE [--rekey] [--ca FILE]
        [--daemon] [--exec "COMMAND"]
        Renews over mutual TLS with the held certificate and replaces the files atomically.
  both: [--p12 FILE --p12-password-file FILE [--p12-legacy]]
`;

type Flags = Record<string, string | true>;
const VALUED = new Set(['url', 'cn', 'ou', 'key-type', 'out', 'cert', 'key', 'ca', 'exec', 'p12', 'p12-password-file', 'chain']);
const BOOLEAN = new Set(['rekey', 'daemon', 'p12-legacy', 'help']);

export function parseFlags(args: string[]): Flags {
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new CliError(`unexpected argument "${arg}"`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    if (name === 'p12-password') throw new CliError('a password is never taken on the command line: use --p12-password-file');
    if (BOOLEAN.has(name)) {
      if (value !== undefined) throw new CliError(`--${name} takes no value`);
      flags[name] = true;
    } else if (VALUED.has(name)) {
      if (value === undefined) {
        value = args[++i];
        if (value === undefined || value.startsWith('--')) throw new CliError(`--${name} needs a value`);
      }
      flags[name] = value;
    } else {
      throw new CliError(`unknown flag --${name}`);
    }
  }
  return flags;
}

function endpoint(base: string, path: string): string {
  let url: URL;
  try { url = new URL(path, base); } catch { throw new CliError(`not a URL: ${base}`); }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliError(`the URL must be http(s): ${base}`);
  return url.toString();
}

function required(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v.length === 0) throw new CliError(`--${name} is required`);
  return v;
}

function optional(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

function readText(path: string, what: string): string {
  try { return readFileSync(path, 'utf8'); } catch (e) { throw new CliError(`cannot read ${what} ${path}: ${(e as Error).message}`); }
}

interface P12Options { file: string; password: string; legacy: boolean }

function p12Options(flags: Flags): P12Options | undefined {
  const file = optional(flags, 'p12');
  const pwFile = optional(flags, 'p12-password-file');
  if (!file) {
    if (pwFile || flags['p12-legacy']) throw new CliError('--p12-password-file and --p12-legacy need --p12 FILE');
    return undefined;
  }
  if (!pwFile) throw new CliError('--p12 needs --p12-password-file FILE (a password is never taken on the command line)');
  const password = readText(pwFile, 'password file').replace(/\r?\n$/, '');
  if (password.length === 0) throw new CliError(`the password file ${pwFile} is empty`);
  return { file, password, legacy: flags['p12-legacy'] === true };
}

function friendlyNameOf(certificatePem: string): string | undefined {
  return /CN=([^\n,]+)/.exec(new X509Certificate(certificatePem).subject)?.[1];
}

async function writeP12(p12: P12Options, keyPem: string, issued: Issued): Promise<void> {
  const bytes = await encodePkcs12({ keyPem, certificatePem: issued.certificate, chainPem: issued.chain, password: p12.password, profile: p12.legacy ? 'legacy' : 'modern', friendlyName: friendlyNameOf(issued.certificate) });
  writeFileAtomic(p12.file, bytes, 0o600);
}

/** Writes the key (0600, first), the certificate and the chain, each atomically. */
export async function writeIssued(paths: { key: string; cert: string; chain: string }, keyPem: string | undefined, issued: Issued, p12?: P12Options, keyForP12?: string): Promise<void> {
  if (keyPem !== undefined) writeFileAtomic(paths.key, keyPem, 0o600);
  const certPem = issued.certificate.endsWith('\n') ? issued.certificate : `${issued.certificate}\n`;
  writeFileAtomic(paths.cert, certPem, 0o644);
  writeFileAtomic(paths.chain, issued.chain, 0o644);
  if (p12) await writeP12(p12, keyPem ?? keyForP12!, issued);
}

async function request(flags: Flags): Promise<number> {
  const url = required(flags, 'url');
  const cn = required(flags, 'cn');
  const ou = optional(flags, 'ou');
  const keyType = (optional(flags, 'key-type') ?? 'ec-p256') as KeyType;
  if (keyType !== 'ec-p256' && keyType !== 'rsa-2048') throw new CliError('--key-type is ec-p256 or rsa-2048');
  const appKey = process.env.MTLS_CA_APP_KEY;
  const appToken = process.env.MTLS_CA_APP_TOKEN;
  if (!appKey || !appToken) throw new CliError('set MTLS_CA_APP_KEY and MTLS_CA_APP_TOKEN to an API key with the certificates:sign permission');
  const p12 = p12Options(flags);
  const out = optional(flags, 'out') ?? '.';
  if (!/^[A-Za-z0-9._-]+$/.test(cn)) throw new CliError('--cn must be letters, digits, ".", "_" or "-" (it names the files)');
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const paths = { key: join(out, `${cn}.key`), cert: join(out, `${cn}.crt`), chain: join(out, 'ca-chain.pem') };
  if (existsSync(paths.key)) throw new CliError(`${paths.key} exists; renew with "mtls-ca cert renew" or choose another --out`);
  const keyPem = generateKeyPem(keyType);
  const csr = await buildCsrPem(keyPem, cn, ou);
  const answer = await send(endpoint(url, '/private-certificates/sign'), {
    method: 'POST',
    headers: { 'content-type': 'application/pkcs10', accept: 'application/json', 'x-api-appkey': appKey, 'x-api-apptoken': appToken },
    body: csr,
  });
  const issued = issuedFrom(answer, 'the signing request');
  await writeIssued(paths, keyPem, issued, p12);
  process.stdout.write(`issued serial ${issued.serialNumber}, valid until ${issued.notAfter}\nkey: ${paths.key}\ncertificate: ${paths.cert}\nchain: ${paths.chain}\n${p12 ? `pkcs12: ${p12.file}\n` : ''}`);
  return 0;
}

export interface RenewSettings { url: string; certPath: string; keyPath: string; chainPath: string; ca?: string; rekey: boolean; p12?: P12Options }

/** One renewal: presents the held certificate, receives the new one, replaces the files. */
export async function renewOnce(s: RenewSettings): Promise<Issued> {
  const cert = readText(s.certPath, 'certificate');
  const key = readText(s.keyPath, 'private key');
  let newKey: string | undefined;
  let body = '';
  if (s.rekey) {
    const current = new X509Certificate(cert);
    const type: KeyType = current.publicKey.asymmetricKeyType === 'rsa' ? 'rsa-2048' : 'ec-p256';
    newKey = generateKeyPem(type);
    const cn = /CN=([^\n,]+)/.exec(current.subject)?.[1] ?? 'client';
    const ou = /OU=([^\n,]+)/.exec(current.subject)?.[1];
    body = await buildCsrPem(newKey, cn, ou);
  }
  const answer = await send(endpoint(s.url, '/private-certificates/renew'), {
    method: 'POST',
    headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/pkcs10' } : {}) },
    body,
    tls: { cert, key, ...(s.ca ? { ca: readText(s.ca, 'CA bundle') } : {}) },
  });
  const issued = issuedFrom(answer, 'the renewal');
  await writeIssued({ key: s.keyPath, cert: s.certPath, chain: s.chainPath }, newKey, issued, s.p12, key);
  return issued;
}

async function renew(flags: Flags): Promise<number> {
  const url = required(flags, 'url');
  if (!url.startsWith('https://')) throw new CliError('renewal runs over mutual TLS: --url must be https://HOST:HTTPS_PORT');
  const settings: RenewSettings = {
    url,
    certPath: required(flags, 'cert'),
    keyPath: required(flags, 'key'),
    chainPath: optional(flags, 'chain') ?? join(required(flags, 'cert'), '..', 'ca-chain.pem'),
    ca: optional(flags, 'ca'),
    rekey: flags.rekey === true,
    p12: p12Options(flags),
  };
  readText(settings.certPath, 'certificate');
  readText(settings.keyPath, 'private key');
  const exec = optional(flags, 'exec');
  if (flags.daemon === true) return runRenewDaemon({ settings, exec, renew: renewOnce });
  if (exec) throw new CliError('--exec runs after renewals of the daemon: use it with --daemon');
  const issued = await renewOnce(settings);
  process.stdout.write(`renewed: serial ${issued.serialNumber}, valid until ${issued.notAfter}\n`);
  return 0;
}

export async function certCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (!sub || sub === '--help' || sub === 'help') { process.stdout.write(HELP); return 0; }
    const flags = parseFlags(rest);
    if (flags.help) { process.stdout.write(HELP); return 0; }
    if (sub === 'request') return await request(flags);
    if (sub === 'renew') return await renew(flags);
    throw new CliError(`unknown cert command "${sub}"`);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`mtls-ca cert: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
