import { z } from 'zod';
import { CaError } from '../../src/domain/errors';
import { listQuerySchema, parseInput } from '../../src/http/schemas';

function refusal(input: unknown): CaError {
  try {
    parseInput(listQuerySchema, input, 'query');
  } catch (e) {
    if (e instanceof CaError) return e;
    throw e;
  }
  throw new Error('parseInput accepted the input');
}

describe('parseInput', () => {
  it('lists a few problems, not one per unknown parameter, however many a query has', () => {
    const query = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`p${i}`, '1']));
    const error = refusal({ ...query, limit: ['1', '2'], status: 'all' });
    expect(error.kind).toBe('invalid-request');
    const listed = error.extensions.errors as Array<{ field: string; message: string }>;
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.length).toBeLessThanOrEqual(10);
    expect(error.detail.length).toBeLessThan(4000);
    expect(JSON.stringify(error.extensions).length).toBeLessThan(4000);
  });

  it('cuts a problem that echoes a huge parameter name', () => {
    const error = refusal({ ['x'.repeat(100_000)]: '1' });
    expect(error.detail.length).toBeLessThan(1000);
    expect(error.detail).toContain('xxxx');
  });

  it('says how many problems it left out', () => {
    const fifteenFields = z.object(Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`f${i}`, z.string()])));
    let error: unknown;
    try {
      parseInput(fifteenFields, {}, 'body');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CaError);
    expect(((error as CaError).extensions.errors as unknown[]).length).toBe(10);
    expect((error as CaError).detail).toMatch(/; and 5 more$/);
  });
});
