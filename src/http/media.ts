import type { Request, RequestHandler } from 'express';
import express from 'express';
import { CaError } from '../domain/errors';
import { jsonDepthExceeds, limitsOf } from './request-limits';

/** 415 unless the Content-Type is one of `types` (a text charset other than UTF-8 or its subsets is refused too). */
export function checkContentType(raw: string | undefined, types: readonly string[]): void {
  if (!raw) throw new CaError('unsupported-media-type', `send the body with Content-Type ${types.join(' or ')}`);
  const [mediaType, ...params] = raw.split(';').map((s) => s.trim().toLowerCase());
  if (!types.includes(mediaType)) {
    throw new CaError('unsupported-media-type', `Content-Type ${mediaType.slice(0, 80)} is not accepted here; use ${types.join(' or ')}`);
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (charset && !['utf-8', 'utf8', 'us-ascii', 'ascii', 'iso-8859-1', 'latin1'].includes(charset)) {
    throw new CaError('unsupported-media-type', `charset ${charset.slice(0, 40)} is not accepted; use utf-8`);
  }
}

/** Rejects a body whose Content-Type is not one of `types` with 415, before reading it. */
export function requireContentType(types: readonly string[]): RequestHandler {
  return (req, _res, next) => {
    checkContentType(req.headers['content-type'], types);
    next();
  };
}

const parsers = new Map<number, RequestHandler>();
function rawParser(limit: number): RequestHandler {
  let parser = parsers.get(limit);
  if (!parser) {
    parser = express.raw({ type: () => true, limit, inflate: false });
    parsers.set(limit, parser);
  }
  return parser;
}

/** Reads the body as raw bytes up to `limit`, or up to MAX_BODY_BYTES when that is lower. */
export function rawBody(limit: number): RequestHandler {
  return (req, res, next) => {
    const cap = limitsOf(res)?.maxBodyBytes;
    rawParser(cap === undefined ? limit : Math.min(limit, cap))(req, res, next);
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a JSON body (strict UTF-8, at most MAX_JSON_DEPTH deep) into req.body. */
export function jsonBody(limit: number): RequestHandler {
  const read = rawBody(limit);
  return (req, res, next) => {
    read(req, res, (err?: unknown) => {
      if (err) return next(err);
      let text: string;
      try {
        text = utf8.decode(bodyBytes(req));
      } catch {
        return next(new CaError('invalid-request', 'the request body is not valid UTF-8'));
      }
      const maxDepth = limitsOf(res)?.maxJsonDepth ?? 32;
      if (jsonDepthExceeds(text, maxDepth)) {
        return next(new CaError('invalid-request', `the JSON body is nested deeper than ${maxDepth} levels`));
      }
      try {
        req.body = text.trim() === '' ? undefined : JSON.parse(text);
      } catch {
        return next(new CaError('invalid-request', 'the request body is not valid JSON'));
      }
      next();
    });
  };
}

export function bodyBytes(req: Request): Uint8Array {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}
