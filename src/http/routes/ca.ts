import { Router } from 'express';
import type { CertificateAuthority } from '../../ca/certificate-authority';

/** The CA certificate, public: PEM chain and DER. */
export function caRouter(ca: CertificateAuthority): Router {
  const router = Router();
  router.get('/ca.pem', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600').type('application/x-pem-file').send(ca.chainPem);
  });
  router.get('/ca.crt', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600').type('application/pkix-cert').send(ca.certificateDer);
  });
  return router;
}
