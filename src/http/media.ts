import type { Request, RequestHandler } from 'express';
import express from 'express';
import { CaError } from '../domain/errors';

/** Rejects a body whose Content-Type is not one of `types` with 415, before reading it. */
export function requireContentType(types: readonly string[]): RequestHandler {
  return (req, _res, next) => {
    const raw = req.headers['content-type'];
    if (!raw) throw new CaError('unsupported-media-type', `send the body with Content-Type ${types.join(' or ')}`);
    const [mediaType, ...params] = raw.split(';').map((s) => s.trim().toLowerCase());
    if (!types.includes(mediaType)) {
      throw new CaError('unsupported-media-type', `Content-Type ${mediaType.slice(0, 80)} is not accepted here; use ${types.join(' or ')}`);
    }
    const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
    if (charset && !['utf-8', 'utf8', 'us-ascii', 'ascii', 'iso-8859-1', 'latin1'].includes(charset)) {
      throw new CaError('unsupported-media-type', `charset ${charset.slice(0, 40)} is not accepted; use utf-8`);
    }
    next();
  };
}

/** Reads the body as raw bytes (any of the accepted types) up to `limit`. */
export function rawBody(limit: number): RequestHandler {
  return express.raw({ type: () => true, limit, inflate: false });
}

export function jsonBody(limit: number): RequestHandler {
  return express.json({ type: () => true, limit, strict: true, inflate: false });
}

export function bodyBytes(req: Request): Uint8Array {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}
