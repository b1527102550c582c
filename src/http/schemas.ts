import { z } from 'zod';
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from '../domain/audit-event';
import { NAME_PATTERN } from '../domain/csr-policy';
import { CaError } from '../domain/errors';
import { PERMISSION_OR_ROLE } from '../domain/permissions';

/** POST /keys */
export const createKeySchema = z.strictObject({
  account: z.string().regex(NAME_PATTERN, 'an account name: 1-64 letters, digits, ".", "_" or "-"'),
  permissions: z.array(z.enum(PERMISSION_OR_ROLE)).min(1).max(16),
});

/** Path parameter naming an API key. */
export const appKeyParam = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/);

/** At most this many problems are listed, each cut to MAX_ERROR_TEXT: the answer never grows with the input. */
const MAX_LISTED_ERRORS = 10;
const MAX_ERROR_TEXT = 200;
const clip = (text: string) => (text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text);

/** Parses with a schema, turning failures into one 400 that lists the problems. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const { issues } = result.error;
  const errors = issues.slice(0, MAX_LISTED_ERRORS).map((i) => ({ field: clip(i.path.join('.') || what), message: clip(i.message) }));
  const more = issues.length > errors.length ? `; and ${issues.length - errors.length} more` : '';
  throw new CaError('invalid-request', `invalid ${what}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}${more}`, {
    extensions: { errors },
  });
}

const isoTime = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .transform((s) => new Date(s))
  .refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'a date from 1970 to 9999');

/** `limit` of a listing: 1-1000, default 100. */
const pageLimit = z
  .string()
  .regex(/^\d{1,4}$/, 'an integer from 1 to 1000')
  .transform(Number)
  .pipe(z.number().int().min(1).max(1000))
  .default(100);

/** GET /private-certificates query. Unknown or repeated parameters are rejected. */
export const listQuerySchema = z.strictObject({
  status: z.enum(['valid', 'revoked', 'expired']).optional(),
  commonName: z.string().min(1).max(64).optional(),
  account: z.string().regex(NAME_PATTERN, 'an account name').optional(),
  expiresBefore: isoTime.optional(),
  expiresAfter: isoTime.optional(),
  issuedBefore: isoTime.optional(),
  issuedAfter: isoTime.optional(),
  limit: pageLimit,
  cursor: z.string().min(1).max(100).optional(),
});

/** GET /stats query: admins may name an account (else every account); the window of the daily series. */
export const statsQuerySchema = z.strictObject({
  account: z.string().regex(NAME_PATTERN, 'an account name').optional(),
  days: z.coerce.number().int().min(1).max(366).default(30),
});

/** GET /audit query (admins). `since` is inclusive, `until` exclusive. */
export const auditQuerySchema = z.strictObject({
  action: z.enum(AUDIT_ACTIONS).optional(),
  outcome: z.enum(AUDIT_OUTCOMES).optional(),
  account: z.string().regex(NAME_PATTERN, 'an account name').optional(),
  actor: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'an API key name').optional(),
  serialNumber: z.string().min(1).max(128).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  limit: pageLimit,
  cursor: z.string().min(1).max(100).optional(),
});

/** DELETE /private-certificates/{serial}: the reason as ?reason= or JSON {"reason": …}. */
export const revokeQuerySchema = z.strictObject({ reason: z.string().min(1).max(40).optional() });
export const revokeBodySchema = z.strictObject({ reason: z.union([z.string().min(1).max(40), z.number().int().min(0).max(99)]).optional() });

/** POST /trust-anchors and POST /client-certificates (issue 12). The certificate is checked by the domain. */
export const partnerCertificateSchema = z.strictObject({
  account: z.string().regex(NAME_PATTERN, 'an account name: 1-64 letters, digits, ".", "_" or "-"'),
  certificate: z.string().min(1).max(64 * 1024),
});
export const partnerTrustListQuerySchema = z.strictObject({ account: z.string().regex(NAME_PATTERN, 'an account name').optional() });
export const partnerTrustIdParam = z.string().uuid();

/** POST /pkcs12/test form fields (the file travels apart). `password` may be empty (files made with -passout pass:). */
export const pkcs12TestSchema = z.strictObject({
  password: z.string().max(1024),
  target: z
    .url({ protocol: /^https$/, error: 'an https URL' })
    .max(2048)
    .optional(),
  serverCa: z.string().max(65_536).includes('-----BEGIN CERTIFICATE-----', { error: 'PEM certificates' }).optional(),
});
