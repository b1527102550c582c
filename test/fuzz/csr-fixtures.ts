import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readCsr, type CsrParts } from '../../src/domain/csr-reader';
import { decodeSinglePem } from '../../src/domain/pem';

/** The committed openssl-made CSRs the fuzz cases start from (test/fixtures, see make-fixtures.sh). */
export const FIXTURES = findFixtures();

/** test/fixtures of the repository, found upwards (this file also runs compiled, from build-bench/). */
function findFixtures(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures');
    if (existsSync(path.join(candidate, 'make-fixtures.sh'))) return candidate;
  }
  throw new Error('cannot find test/fixtures above ' + __dirname);
}

export interface CsrFixture {
  readonly name: string;
  readonly pem: string;
  readonly der: Buffer;
  readonly parts: CsrParts;
}

function load(name: string): CsrFixture {
  const pem = readFileSync(path.join(FIXTURES, `${name}.csr`), 'latin1');
  const der = decodeSinglePem(pem).der;
  return { name, pem, der, parts: readCsr(der) };
}

/** CSRs the service signs for an admin key: only ever sent broken (every bit of them is signed or checked). */
export const ACCEPTABLE_CSRS: readonly CsrFixture[] = ['vtex-rsa2048-sha512', 'ec-p256', 'ec-p384', 'ec-p521'].map(load);

/** Well-formed CSRs the policy refuses whoever asks: weak or wrong keys and signatures, bad subjects. */
export const REFUSED_CSRS: readonly CsrFixture[] = [
  'bad-cn',
  'bad-country',
  'bad-signature',
  'ecdsa-sha1',
  'ec-secp256k1',
  'ed25519',
  'email-attr',
  'md5',
  'no-cn',
  'no-ou',
  'rsa-e3',
  'rsa-pss',
  'rsa1024',
  'rsa8704',
  'sha1',
  'two-cn',
  'two-ou',
].map(load);
