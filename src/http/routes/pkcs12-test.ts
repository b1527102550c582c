import { Router } from 'express';
import { CaError } from '../../domain/errors';
import { parseOutboundTarget, type OutboundTarget } from '../../domain/outbound-route';
import { hasPermission, type Principal } from '../../domain/permissions';
import { MAX_PKCS12_BYTES } from '../../pkcs12/limits';
import type { Pkcs12Tester } from '../../services/pkcs12-tester';
import type { KeyService } from '../../services/key-service';
import { principalOf, requireAuthentication } from '../auth';
import { readMultipart } from '../multipart';
import { parseInput, pkcs12TestSchema } from '../schemas';

/**
 * POST /pkcs12/test (multipart: file, password, optional target and serverCa): the P12 tester. Any valid
 * API key may test a file; a live handshake (`target`) opens an outgoing connection, so it needs `forward`
 * and is admitted as /forward admits a request: the per-key forward rate, and an outbound route of the
 * key's account that matches the target (else 403). Nothing is stored; the password and the key never
 * leave this request.
 */
export function pkcs12TestRouter(deps: {
  keys: KeyService;
  tester: Pkcs12Tester;
  /** The forwarder's admission (rate, route match); null when the service has no outgoing side. */
  admitTarget: ((principal: Principal, target: OutboundTarget) => Promise<unknown>) | null;
}): Router {
  const router = Router();
  router.post('/test', requireAuthentication(deps.keys), async (req, res) => {
    const form = await readMultipart(req, { fileField: 'file', maxFileBytes: MAX_PKCS12_BYTES, textFields: ['password', 'target', 'serverCa'], maxFieldBytes: 65_536 });
    const fields = parseInput(pkcs12TestSchema, form.fields, 'form');
    if (!form.file) throw new CaError('invalid-request', 'send the PKCS#12 file in the form field "file"');
    let target: string | undefined;
    if (fields.target) {
      const principal = principalOf(res);
      if (!hasPermission(principal, 'forward')) throw new CaError('forbidden', 'a live handshake (target) needs the forward permission');
      if (!deps.admitTarget) throw new CaError('forbidden', 'this service has no outgoing side to make a live handshake with');
      const parsed = parseOutboundTarget(fields.target, 'https');
      await deps.admitTarget(principal, parsed);
      target = parsed.url.toString();
    }
    res.json(await deps.tester.test({ file: form.file, password: fields.password, target, serverCaPem: fields.serverCa }));
  });
  return router;
}
