import busboy from 'busboy';
import type { Request, Response } from 'express';
import { CaError } from '../domain/errors';
import { limitsOf } from './request-limits';

/** A small multipart/form-data body read whole: text fields and file contents, each name once. */
export interface MultipartForm {
  readonly fields: Record<string, string>;
  readonly files: Record<string, Buffer>;
}

export interface MultipartLimits {
  /** Largest file (and whole body, with `fieldBytes` per field on top). */
  readonly fileBytes: number;
  readonly files: number;
  readonly fields: number;
  /** Largest text field. */
  readonly fieldBytes: number;
}

/**
 * Reads a multipart/form-data body with busboy within `limits` (and MAX_BODY_BYTES). Anything over a
 * limit is a 413, a malformed body or a repeated name a 400; the body is not read further then.
 */
export function readMultipart(req: Request, res: Response, limits: MultipartLimits): Promise<MultipartForm> {
  const cap = limitsOf(res)?.maxBodyBytes;
  const total = limits.fileBytes * limits.files + limits.fieldBytes * limits.fields + 16 * 1024;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > total || (cap !== undefined && declared > cap)) {
    return Promise.reject(new CaError('payload-too-large', `the form is larger than ${Math.min(total, cap ?? total)} bytes`));
  }
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { fileSize: limits.fileBytes, files: limits.files, fields: limits.fields, fieldSize: limits.fieldBytes },
      });
    } catch {
      reject(new CaError('invalid-request', 'the multipart/form-data body has no boundary parameter'));
      return;
    }
    const fields: Record<string, string> = {};
    const files: Record<string, Buffer> = {};
    let settled = false;
    const fail = (error: CaError) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      reject(error);
    };
    const once = (name: string) => {
      if (Object.hasOwn(fields, name) || Object.hasOwn(files, name)) fail(new CaError('invalid-request', `form field "${name.slice(0, 64)}" is given twice`));
    };
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new CaError('payload-too-large', `form field "${name.slice(0, 64)}" is longer than ${limits.fieldBytes} bytes`));
      once(name);
      fields[name] = value;
    });
    parser.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => fail(new CaError('payload-too-large', `the file "${name.slice(0, 64)}" is larger than ${limits.fileBytes} bytes`)));
      stream.on('close', () => {
        once(name);
        files[name] = Buffer.concat(chunks);
      });
    });
    const tooMany = (what: string) => () => fail(new CaError('payload-too-large', `the form has too many ${what}`));
    // Emitted when one more file or field than the limit starts.
    parser.on('filesLimit', tooMany('files'));
    parser.on('fieldsLimit', tooMany('fields'));
    parser.on('error', () => fail(new CaError('invalid-request', 'the multipart/form-data body is malformed')));
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      resolve({ fields, files });
    });
    req.on('error', () => fail(new CaError('invalid-request', 'the request body could not be read')));
    req.pipe(parser);
  });
}
