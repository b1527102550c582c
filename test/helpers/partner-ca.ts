import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openssl } from './openssl';

/** A CA made with the openssl command line, as a partner would run it. */
export interface OpensslCa {
  readonly crt: string;
  readonly key: string;
  readonly pem: string;
}

let counter = 0;

/** A self-signed CA (`openssl req -x509`), or an intermediate signed by `parent` (`openssl x509 -req` with CA:true). */
export async function makeCa(dir: string, name: string, parent?: OpensslCa, days = 2): Promise<OpensslCa> {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  if (!parent) {
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', `/CN=${name}`, '-days', String(days), '-out', crt]);
  } else {
    const csr = path.join(dir, `${name}.csr`);
    const ext = path.join(dir, `${name}.ext`);
    await fs.writeFile(ext, 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n');
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', `/CN=${name}`, '-out', csr]);
    await openssl(['x509', '-req', '-in', csr, '-CA', parent.crt, '-CAkey', parent.key, '-CAcreateserial', '-days', String(days), '-extfile', ext, '-out', crt]);
  }
  return { crt, key, pem: await fs.readFile(crt, 'utf8') };
}

/** Signs a CSR (PEM text) with `ca` through `openssl x509 -req` and the given extension lines; the certificate PEM. */
export async function signCsr(dir: string, ca: OpensslCa, csrPem: string, ext = 'extendedKeyUsage=clientAuth\n', days = 2): Promise<string> {
  const n = `signed-${process.pid}-${++counter}`;
  const csr = path.join(dir, `${n}.csr`);
  const crt = path.join(dir, `${n}.crt`);
  const extFile = path.join(dir, `${n}.ext`);
  await fs.writeFile(csr, csrPem);
  await fs.writeFile(extFile, ext);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-days', String(days), '-extfile', extFile, '-out', crt]);
  return fs.readFile(crt, 'utf8');
}

/** A new key and certificate made entirely with openssl, signed by `ca`; PEM texts and file paths. */
export async function makeClient(dir: string, ca: OpensslCa, name: string, subject: string, keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']): Promise<{ key: string; crt: string; keyPem: string; pem: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  await openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-subj', subject, '-out', csr]);
  const pem = await signCsr(dir, ca, await fs.readFile(csr, 'utf8'));
  const crt = path.join(dir, `${name}.crt`);
  await fs.writeFile(crt, pem);
  return { key, crt, keyPem: await fs.readFile(key, 'utf8'), pem };
}
