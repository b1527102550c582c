import { z } from 'zod';
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

/** Parses with a schema, turning failures into one 400 that lists the problems. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const errors = result.error.issues.map((i) => ({ field: i.path.join('.') || what, message: i.message }));
  throw new CaError('invalid-request', `invalid ${what}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, {
    extensions: { errors },
  });
}
