import { Router } from 'express';
import { CaError } from '../../domain/errors';
import { hasPermission } from '../../domain/permissions';
import { MAX_PKCS12_BYTES } from '../../pkcs12/limits';
import type { Pkcs12Tester } from '../../services/pkcs12-tester';
import type { KeyService } from '../../services/key-service';
import { principalOf, requireAuthentication } from '../auth';
import { readMultipart } from '../multipart';
import { parseInput, pkcs12TestSchema } from '../schemas';

/**
 * POST /pkcs12/test (multipart: file, password, optional target and serverCa): the P12 tester. Any valid
 * API key may test a file; a live handshake (`target`) opens an outgoing connection, so it needs `forward`.
 * Nothing is stored; the password and the key never leave this request.
 */
export function pkcs12TestRouter(deps: { keys: KeyService; tester: Pkcs12Tester }): Router {
  const router = Router();
  router.post('/test', requireAuthentication(deps.keys), async (req, res) => {
    const form = await readMultipart(req, { fileField: 'file', maxFileBytes: MAX_PKCS12_BYTES, textFields: ['password', 'target', 'serverCa'], maxFieldBytes: 65_536 });
    const fields = parseInput(pkcs12TestSchema, form.fields, 'form');
    if (!form.file) throw new CaError('invalid-request', 'send the PKCS#12 file in the form field "file"');
    if (fields.target && !hasPermission(principalOf(res), 'forward')) {
      throw new CaError('forbidden', 'a live handshake (target) needs the forward permission');
    }
    res.json(await deps.tester.test({ file: form.file, password: fields.password, target: fields.target, serverCaPem: fields.serverCa }));
  });
  return router;
}
