import type { RequestHandler } from 'express';

/**
 * `Cache-Control: no-store` on every answer of the authenticated API (keys and their tokens,
 * certificates, the audit trail), errors included: no shared or private cache may keep them.
 */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};
