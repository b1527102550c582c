import { z } from 'zod';
import type { SubjectAttributes } from '../ca/subject-name';
import { GENERATED_KEY_TYPES } from '../domain/client-identity';
import { MAX_PKCS12_BYTES } from '../pkcs12/limits';
/** Largest PEM text of one field (a certificate, a key, a chain). */
const MAX_PEM_CHARS = 64 * 1024;

const name = z.string().min(1).max(128);
const account = z.string().min(1).max(64);
const keyType = z.enum(GENERATED_KEY_TYPES).default('ec-p256');
const pem = z.string().min(1).max(MAX_PEM_CHARS);
/** A PKCS#12 password: given by the client, never stored or logged. */
const pkcs12Password = z.string().max(1024);

/** A subject attribute value: 1-64 characters, no control characters, no surrounding spaces. */
const attribute = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, 'no control or format characters')
  .refine((s) => s.trim() === s, 'no leading or trailing spaces');

/** The subject a partner's CA is asked for; encoded in the fixed order C, O, OU, CN (encodeSubject). */
export const subjectSchema = z
  .strictObject({
    commonName: attribute,
    organizationalUnit: attribute.optional(),
    organization: attribute.optional(),
    country: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166 country code: two capital letters').optional(),
  })
  .transform((s): SubjectAttributes => ({ CN: s.commonName, OU: s.organizationalUnit, O: s.organization, C: s.country }));

const base64 = z
  .string()
  .max(Math.ceil(MAX_PKCS12_BYTES / 3) * 4 + 256, `at most ${MAX_PKCS12_BYTES} bytes`)
  .transform((s) => s.replace(/\s+/g, ''))
  .refine((s) => s.length > 0 && s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s), 'standard base64')
  .transform((s) => Buffer.from(s, 'base64'));

const SOURCES = ['issue', 'csr', 'import', 'pkcs12'] as const;

/** POST /identities (application/json): exactly one of issue (here), csr (for a partner's CA), import (PEM), pkcs12. */
export const createIdentitySchema = z
  .strictObject({
    name,
    account,
    exportable: z.boolean().default(false),
    issue: z.strictObject({ commonName: z.string().min(1).max(64), keyType }).optional(),
    csr: z.strictObject({ subject: subjectSchema, keyType }).optional(),
    import: z.strictObject({ certificate: pem, key: pem, chain: z.union([pem, z.array(pem).max(8)]).optional() }).optional(),
    pkcs12: z.strictObject({ data: base64, password: pkcs12Password }).optional(),
  })
  .refine((b) => SOURCES.filter((s) => b[s] !== undefined).length === 1, { message: `give exactly one of ${SOURCES.join(', ')}` });

/** POST /identities (multipart/form-data): a PKCS#12 file in `file`. */
export const pkcs12FormSchema = z.strictObject({
  name,
  account,
  exportable: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  password: pkcs12Password,
});

/** PUT /identities/{id}/certificate (application/json). */
export const certificateSchema = z.strictObject({ certificate: pem, chain: z.union([pem, z.array(pem).max(8)]).optional() });

/** POST /identities/{id}/pkcs12. */
export const exportSchema = z.strictObject({
  password: z.string().min(8, 'at least 8 characters').max(1024),
  profile: z.enum(['modern', 'legacy']).default('modern'),
});

export const listSchema = z.strictObject({
  account: z.string().min(1).max(64).optional(),
  limit: z.string().regex(/^\d{1,4}$/).transform(Number).pipe(z.number().int().min(1).max(1000)).default(100),
});
