import type { Request } from 'express';
import busboy from 'busboy';
import { CaError } from '../domain/errors';

export interface MultipartLimits {
  /** The one file field accepted. */
  readonly fileField: string;
  readonly maxFileBytes: number;
  /** Text fields accepted (any other field is a 400). */
  readonly textFields: readonly string[];
  readonly maxFieldBytes: number;
}

export interface MultipartForm {
  readonly file: Buffer | null;
  readonly fields: Record<string, string>;
}

/**
 * Reads a multipart/form-data body (busboy) into memory within `limits`: one file of at most
 * maxFileBytes (else 413), the named text fields once each (else 400). Not multipart: 415.
 */
export function readMultipart(req: Request, limits: MultipartLimits): Promise<MultipartForm> {
  return new Promise<MultipartForm>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // One over each count, so an extra part reaches the checks below and gets their clearer message.
        limits: { fileSize: limits.maxFileBytes, files: 2, fields: limits.textFields.length + 1, fieldSize: limits.maxFieldBytes, parts: limits.textFields.length + 3, fieldNameSize: 100, headerPairs: 20 },
      });
    } catch {
      reject(new CaError('unsupported-media-type', 'send the form as multipart/form-data (with its boundary)'));
      return;
    }
    let file: Buffer | null = null;
    let sawFile = false;
    const fields: Record<string, string> = {};
    let failed = false;
    const fail = (error: CaError) => {
      if (failed) return;
      failed = true;
      req.unpipe(parser);
      req.resume(); // read and drop the rest, so the client still gets the answer
      reject(error);
    };
    parser.on('file', (name, stream, _info) => {
      // busboy destroys the file stream with an error when the form ends inside it: unheard, that error
      // would end the process. The parser reports the same failure on its own 'error'.
      stream.on('error', (cause) => fail(new CaError('invalid-request', 'the multipart body ends inside a file', { cause })));
      if (name !== limits.fileField || sawFile) {
        stream.resume();
        fail(new CaError('invalid-request', `unexpected file field "${name.slice(0, 40)}"; send one file in "${limits.fileField}"`));
        return;
      }
      sawFile = true;
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(new CaError('payload-too-large', `the file is larger than ${limits.maxFileBytes} bytes`)));
      stream.on('end', () => {
        if (!stream.truncated) file = Buffer.concat(chunks);
      });
    });
    parser.on('field', (name, value, info) => {
      if (!limits.textFields.includes(name)) return fail(new CaError('invalid-request', `unexpected form field "${name.slice(0, 40)}"`));
      if (name in fields) return fail(new CaError('invalid-request', `the form field "${name}" is given twice`));
      if (info.valueTruncated) return fail(new CaError('payload-too-large', `the form field "${name}" is longer than ${limits.maxFieldBytes} bytes`));
      fields[name] = value;
    });
    parser.on('filesLimit', () => fail(new CaError('invalid-request', 'send exactly one file')));
    parser.on('fieldsLimit', () => fail(new CaError('invalid-request', 'too many form fields')));
    parser.on('partsLimit', () => fail(new CaError('invalid-request', 'too many form parts')));
    parser.on('error', (cause) => fail(new CaError('invalid-request', 'the multipart body is malformed', { cause })));
    parser.on('close', () => {
      if (!failed) resolve({ file, fields });
    });
    req.on('aborted', () => fail(new CaError('invalid-request', 'the request body could not be read')));
    req.pipe(parser);
  });
}
