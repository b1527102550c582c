import { Router } from 'express';
import type { CertificateAuthority } from '../../ca/certificate-authority';
import type { IssuerSet } from '../../ca/issuer-set';
import type { Clock } from '../../domain/clock';
import { CaError } from '../../domain/errors';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The CA certificates, public. GET /ca.pem: the trust bundle (every issuer pending, active, or retired
 * and unexpired, each followed by the certificates above it; the active one first) or, without issuers, the CA chain; GET /ca.crt: the original
 * root (DER); GET /ca/{issuerId}.crt: one issuer's certificate (DER), named by its certificates' AIA.
 */
export function caRouter(ca: CertificateAuthority, issuers?: { set: () => IssuerSet; clock: Clock }): Router {
  const router = Router();
  router.get('/ca.pem', (_req, res) => {
    const pem = issuers
      ? [...new Set(issuers.set().bundle(issuers.clock.now()).flatMap((i) => i.record.chainPem!.match(PEM_BLOCK) ?? []))].map((b) => `${b}\n`).join('')
      : ca.chainPem;
    // Short: relying parties must see a pending issuer soon after a rotation.
    res.set('Cache-Control', issuers ? 'public, max-age=60' : 'public, max-age=3600').type('application/x-pem-file').send(pem);
  });
  router.get('/ca.crt', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600').type('application/pkix-cert').send(ca.certificateDer);
  });
  if (issuers) {
    router.get('/ca/:file', (req, res, next) => {
      const file = String(req.params.file);
      if (!file.endsWith('.crt')) return next();
      const found = issuers.set().byId(file.slice(0, -4));
      if (!found?.certificate) throw new CaError('not-found', `no issuer "${file.slice(0, -4)}" with a certificate`);
      res.set('Cache-Control', 'public, max-age=3600').type('application/pkix-cert').send(Buffer.from(found.certificate.rawData));
    });
  }
  return router;
}
