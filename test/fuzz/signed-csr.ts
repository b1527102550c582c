import { FIXTURES } from './csr-fixtures';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bitString, NULL, objectIdentifier, sequence, smallInteger, tlv } from '../../src/domain/der';
import { OID } from '../../src/domain/oids';

/**
 * CertificationRequests with a genuine proof of possession, signed by a committed test key
 * (test/fixtures/fuzz-signer.key, RSA-2048, used for nothing else). RSA PKCS#1 v1.5 signatures are
 * deterministic, so a seeded fuzz case is the same bytes every run. A policy gap that lets a bad
 * subject through shows up as an issued certificate, not as a signature failure.
 */
const key = createPrivateKey(readFileSync(path.join(FIXTURES, 'fuzz-signer.key')));
export const FUZZ_SIGNER_SPKI = createPublicKey(key).export({ format: 'der', type: 'spki' });

export function signedCsr(parts: { subject: Buffer; version?: Buffer; attributes?: Buffer }): Buffer {
  const info = sequence(parts.version ?? smallInteger(0), parts.subject, FUZZ_SIGNER_SPKI, parts.attributes ?? tlv(0xa0));
  const signature = sign('sha256', info, key);
  return sequence(info, sequence(objectIdentifier(OID.sha256WithRSA), NULL), bitString(signature));
}
